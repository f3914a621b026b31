// Eco² chat: the reference load-test scenario of DESIGN.md §5, for k6 (https://k6.io).
//
//   k6 run loadtest/k6/chat.js                                  # against http://127.0.0.1:8000
//   k6 run -e BASE_URL=http://api:8000 loadtest/k6/chat.js
//   k6 run -e SHORT=1 loadtest/k6/chat.js                       # 10 s / 60 s / 10 s stages
//
// Stages: 0 → 10 VUs over 1 m, 10 → 50 VUs over 5 m (k6 ramps linearly within a stage; DESIGN.md
// §5 says "hold 50", `eco2 loadtest` holds its users), 50 → 0 over 1 m. Each iteration posts
// a message for a random intent, checks 202 + job_id, then follows the job's SSE stream to its
// terminal event (`done` or `error`) and sleeps 1 s.
//
// k6 has no EventSource: the events endpoint is read with http.get, whose body is complete once
// the server closes the connection after the terminal event (DESIGN.md §4). If the body ends
// without a terminal event (the server recycled the connection), the script resumes with
// Last-Event-ID and counts a recovery. Because the body arrives at once, k6 cannot see the time to
// the first token; `eco2 loadtest` (the Python twin of this script) measures it.
//
// Thresholds mirror deploy/slo.yaml (the single SLO source): full response waste
// p50 2 s / p95 5 s / p99 10 s, general 1 s / 3 s / 5 s; keep them in sync when the file changes.

import http from 'k6/http';
import { check, sleep } from 'k6';
import { Counter, Rate, Trend } from 'k6/metrics';

const BASE_URL = (__ENV.BASE_URL || 'http://127.0.0.1:8000').replace(/\/$/, '');
const SHORT = __ENV.SHORT === '1';

const MESSAGES = {
  waste: '페트병 어떻게 버려?',
  character: '이코 소개해줘',
  bulk_waste: '소파 버리는 방법 알려줘',
  general: '안녕하세요',
};
const INTENTS = Object.keys(MESSAGES);

const e2e = new Trend('chat_e2e_seconds', false); // POST to terminal event, per intent tag
const tokens = new Counter('chat_tokens');
const jobErrors = new Rate('chat_job_errors'); // terminal `error`, no terminal event, bad status
const recoveries = new Counter('chat_stream_recoveries');
const completed = new Counter('chat_jobs_completed');

export const options = {
  stages: SHORT
    ? [
        { duration: '10s', target: 10 },
        { duration: '60s', target: 50 },
        { duration: '10s', target: 0 },
      ]
    : [
        { duration: '1m', target: 10 },
        { duration: '5m', target: 50 },
        { duration: '1m', target: 0 },
      ],
  thresholds: {
    checks: ['rate>0.99'],
    chat_job_errors: ['rate<0.01'],
    'chat_e2e_seconds{intent:waste}': ['p(50)<2', 'p(95)<5', 'p(99)<10'],
    'chat_e2e_seconds{intent:general}': ['p(50)<1', 'p(95)<3', 'p(99)<5'],
  },
};

// Parse an SSE body into [{id, event, data}] (frames are separated by a blank line).
export function parseSse(body) {
  const events = [];
  const frames = String(body || '').replace(/\r\n/g, '\n').split('\n\n');
  for (const frame of frames) {
    const fields = {};
    for (const line of frame.split('\n')) {
      if (line === '' || line.startsWith(':')) continue; // comments are keep-alives
      const at = line.indexOf(':');
      const name = at < 0 ? line : line.slice(0, at);
      let value = at < 0 ? '' : line.slice(at + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      fields[name] = name in fields ? `${fields[name]}\n${value}` : value;
    }
    if (fields.event) {
      let data = {};
      try {
        data = JSON.parse(fields.data || '{}');
      } catch (_) {
        data = { raw: fields.data };
      }
      events.push({ id: fields.id || '', event: fields.event, data });
    }
  }
  return events;
}

// Follow a job's stream to its terminal event; resume after a dropped connection.
function follow(jobId, intent) {
  let lastId = null;
  for (let attempt = 0; attempt < 10; attempt += 1) {
    const headers = lastId ? { 'Last-Event-ID': lastId } : {};
    const res = http.get(`${BASE_URL}/api/v1/chat/${jobId}/events`, {
      headers,
      timeout: '120s',
      tags: { name: 'events', intent },
    });
    if (res.status !== 200) return { terminal: null };
    const events = parseSse(res.body);
    for (const ev of events) {
      if (ev.event === 'token') tokens.add(ev.data.count || 1, { intent });
      if (ev.id) lastId = ev.id;
      if (ev.event === 'done' || ev.event === 'error') return { terminal: ev.event };
    }
    recoveries.add(1, { intent }); // no terminal event yet: resume from the last id
  }
  return { terminal: null };
}

export default function () {
  const intent = INTENTS[Math.floor(Math.random() * INTENTS.length)];
  const started = Date.now();
  const res = http.post(
    `${BASE_URL}/api/v1/chat`,
    JSON.stringify({ message: MESSAGES[intent] }),
    { headers: { 'Content-Type': 'application/json' }, tags: { name: 'chat', intent } },
  );
  let jobId = null;
  try {
    jobId = res.json('job_id');
  } catch (_) {
    jobId = null;
  }
  const accepted = check(res, {
    'status is 200/202': (r) => r.status === 202 || r.status === 200,
    'has job_id': () => Boolean(jobId),
  });
  if (!accepted) {
    jobErrors.add(1, { intent });
    sleep(1);
    return;
  }
  const { terminal } = follow(jobId, intent);
  check(terminal, { 'stream ends with done': (t) => t === 'done' });
  jobErrors.add(terminal !== 'done', { intent });
  if (terminal === 'done') {
    completed.add(1, { intent });
    e2e.add((Date.now() - started) / 1000, { intent });
  }
  sleep(1);
}
