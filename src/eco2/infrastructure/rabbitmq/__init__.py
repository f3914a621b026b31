"""RabbitMQ adapters for distributed mode: the durable chat-job queue workers compete on."""
