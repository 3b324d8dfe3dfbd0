// Integration test: the official `openai` npm client drives the Batch API of
// `ecoinfer route` (in front of `ecoinfer serve --fake-backend` nodes):
// files.create -> batches.create -> batches.retrieve (poll) -> files.content.
// Environment: ECOINFER_BASE_URL (the router, e.g. http://127.0.0.1:8080/v1),
// ECOINFER_MODEL (model id the nodes serve).
import assert from 'node:assert/strict';
import OpenAI, { toFile } from 'openai';

const baseURL = process.env.ECOINFER_BASE_URL;
const model = process.env.ECOINFER_MODEL || 'fake-model';
assert.ok(baseURL, 'set ECOINFER_BASE_URL');
const client = new OpenAI({ baseURL, apiKey: 'unused', maxRetries: 0, timeout: 30000 });

const N = 6;
const lines = [];
for (let i = 0; i < N; i++)
  lines.push(JSON.stringify({
    custom_id: `job-${i}`, method: 'POST', url: '/v1/chat/completions',
    body: { model, messages: [{ role: 'user', content: `summarise ticket ${i}` }], max_tokens: 4 },
  }));

const file = await client.files.create({
  file: await toFile(Buffer.from(lines.join('\n') + '\n'), 'batch.jsonl'),
  purpose: 'batch',
});
assert.equal(file.object, 'file');
assert.equal(file.purpose, 'batch');

const created = await client.batches.create({
  input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h',
  metadata: { suite: 'node' },
});
assert.equal(created.object, 'batch');
assert.equal(created.request_counts.total, N);
assert.equal(typeof created.carbon_run_now_g, 'number');

let batch = created;
for (let i = 0; i < 400 && batch.status !== 'completed'; i++) {
  await new Promise((r) => setTimeout(r, 50));
  batch = await client.batches.retrieve(created.id);
}
assert.equal(batch.status, 'completed', `status ${batch.status}`);
assert.equal(batch.request_counts.completed, N);
assert.ok(batch.carbon_spent_g > 0, 'carbon_spent_g');
assert.ok(batch.output_file_id, 'output_file_id');

const content = await client.files.content(batch.output_file_id);
const text = await content.text();
const results = text.trim().split('\n').map((l) => JSON.parse(l));
assert.equal(results.length, N);
const ids = new Set(results.map((r) => r.custom_id));
assert.equal(ids.size, N);
for (const r of results) {
  assert.equal(r.response.status_code, 200);
  assert.equal(r.response.body.object, 'chat.completion');
  assert.equal(typeof r.carbon.total_g, 'number');
  assert.ok(r.carbon.total_g > 0);
}

// a deadline that no 1 h planning slot fits in is a 400 (BadRequestError)
await assert.rejects(
  client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions',
                          completion_window: '1s' }),
  (e) => e.status === 400);

const cancelled = await client.batches.cancel(created.id).catch((e) => e);
assert.equal(cancelled.status, 409); // already completed
console.log(`ok: openai client batch flow (${N} requests, ${batch.carbon_spent_g.toExponential(3)} g spent, run-now ${batch.carbon_run_now_g.toExponential(3)} g)`);
