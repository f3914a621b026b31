"""The character catalogue as a gRPC service: generated-code loader, client adapter, server.

The service is defined in ``proto/eco2/character/v1/character.proto``; its Python modules are
generated at build time into ``_generated/`` (see :mod:`.codegen`). Nothing here imports them at
package import time, so ``codegen`` runs before they exist.

- :mod:`.protocol`: loads the generated modules, converts messages to and from domain models.
- :mod:`.client`: ``GrpcCharacterCatalog``, the ``CharacterCatalogPort`` of distributed mode.
- :mod:`.server`: the ``grpc.aio`` server behind ``eco2 character-server``.
- :mod:`.errors`: gRPC status codes mapped onto the providers' typed errors.
"""
