// Self-test of the permission check (node --test scripts/iam/): a tiny template
// (fixtures/template.yaml) and hand-written call-log lines.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { check } from './check.mjs'

const dir = join(dirname(fileURLToPath(import.meta.url)), 'fixtures')
const template = join(dir, 'template.yaml')
const params = join(dir, 'params.json')

const s3 = (method, path, status, extra = {}) => ({ app: 'lifeboat-worker', service: 's3', region: 'us-east-1', method, path, query: method === 'GET' ? 'x-id=GetObject' : '', headers: {}, status, _at: 'fixture', ...extra })
const rds = (body, tags = {}) => ({ app: 'lifeboat-worker', service: 'rds', region: 'us-east-1', method: 'POST', path: '/', query: '', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body, tags, status: 200, _at: 'fixture' })
const run = (calls, p = params) => check({ calls, template, params: p })

test('an allowed call passes and marks its statement used', async () => {
  const r = await run([s3('GET', '/data-bucket/data/a.json', 200)])
  const f = r.functions.worker
  assert.equal(r.failures, 0)
  assert.deepEqual(Object.keys(f.calls), ['s3:GetObject us-east-1'])
  assert.ok(!f.unused.some((u) => u.includes('DataRead')))
  assert.ok(f.unused.some((u) => u.includes('ReportRead: s3:PutObject')), 'an unused grant is listed')
})

test('a call no statement allows fails, naming the call, the action and the closest statement', async () => {
  const r = await run([s3('GET', '/data-bucket/other/a.json', 200)])
  const [k] = Object.keys(r.functions.worker.denied)
  assert.equal(r.failures, 1)
  assert.match(k, /s3:GetObject us-east-1 -> s3:GetObject on arn:aws:s3:::data-bucket\/other\/\*/)
  assert.equal(r.functions.worker.denied[k].example, 'arn:aws:s3:::data-bucket/other/a.json')
  assert.match(r.functions.worker.denied[k].near.join(), /DataRead: grants s3:GetObject on arn:aws:s3:::data-bucket\/data\/\* only/)
})

test('an action the role does not grant at all is named', async () => {
  const r = await run([{ ...s3('DELETE', '/data-bucket/data/a.json', 204), query: 'x-id=DeleteObject' }])
  const [k] = Object.keys(r.functions.worker.denied)
  assert.match(k, /-> s3:DeleteObject on arn:aws:s3:::data-bucket\/data\/\*/)
  assert.deepEqual(r.functions.worker.denied[k].near, [])
})

test('an absent-key read without s3:ListBucket on the bucket fails (AWS answers 403)', async () => {
  const r = await run([s3('GET', '/data-bucket/data/missing.json', 404)])
  assert.equal(r.failures, 1)
  assert.deepEqual(Object.keys(r.functions.worker.absentWithoutList), ['s3:GetObject us-east-1 of absent s3://data-bucket/data/missing.json'])
  assert.deepEqual(Object.keys(r.functions.worker.denied), [], 'the GetObject itself is allowed')
})

test('an absent-key read with s3:ListBucket on the bucket passes', async () => {
  const r = await run([s3('HEAD', '/report-bucket/state/x.json', 404)])
  assert.equal(r.failures, 0)
  assert.deepEqual(Object.keys(r.functions.worker.calls), ['s3:HeadObject us-east-1'])
  assert.ok(!r.functions.worker.unused.some((u) => u.includes('ReportList')))
})

test('a resource-tag condition is evaluated with the tags the resource had', async () => {
  const arn = 'arn:aws:rds:us-east-1:123456789012:db:tmp-1'
  const body = 'Action=DeleteDBInstance&DBInstanceIdentifier=tmp-1&SkipFinalSnapshot=true'
  const ok = await run([rds(body, { [arn]: { purpose: 'scratch' } })])
  assert.equal(ok.failures, 0)
  const bad = await run([rds(body, { [arn]: { purpose: 'production' } })])
  const [k] = Object.keys(bad.functions.worker.denied)
  assert.match(k, /rds:DeleteDBInstance on arn:aws:rds:us-east-1:123456789012:db:tmp-1/)
  assert.match(bad.functions.worker.denied[k].near.join(), /TempDelete: grants it, but its Condition fails/)
})

test('!If statements follow their condition; requests without a Lifeboat app name are not checked', async () => {
  const calls = [s3('GET', '/replica/x', 200), { ...s3('GET', '/anything/x', 200), app: null }]
  const off = await run(calls)
  assert.equal(off.failures, 1)
  assert.equal(off.unattributed, 1)
  const on = await run(calls, { account: '123456789012', region: 'us-east-1', parameters: { DataBucketName: 'data-bucket', ReplicaBucketName: 'replica' }, resources: { ReportBucket: { Ref: 'report-bucket', Arn: 'arn:aws:s3:::report-bucket' } } })
  assert.equal(on.failures, 0)
})

test('an operation the checker cannot map fails rather than passing unchecked', async () => {
  const r = await run([rds('Action=RebootDBInstance&DBInstanceIdentifier=tmp-1')])
  assert.deepEqual(Object.keys(r.functions.worker.unmapped), ['rds:RebootDBInstance us-east-1'])
  assert.equal(r.failures, 1)
})
