// Self-test of the permission check (node --test scripts/iam/): a tiny template
// (fixtures/template.yaml) and hand-written call-log lines.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { join, dirname } from 'node:path'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { check, derivedParameters } from './check.mjs'
import { authorizations, virtualHostedBucket } from './requests.mjs'

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

// The failover calls (fixtures/failover-template.yaml): Route 53, SSM, Secrets Manager, RDS.
const failover = join(dir, 'failover-template.yaml')
const call = (service, region, extra) => ({ app: 'lifeboat-orchestrator', service, region, method: 'POST', path: '/', query: '', headers: {}, status: 200, _at: 'fixture', ...extra })
const json = (service, region, target, body, extra = {}) => call(service, region, { headers: { 'x-amz-target': target, 'content-type': 'application/x-amz-json-1.1' }, body: JSON.stringify(body), ...extra })
const changes = (list) => '<?xml version="1.0" encoding="UTF-8"?><ChangeResourceRecordSetsRequest xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><ChangeBatch><Changes>' +
  list.map(([action, name, type]) => `<Change><Action>${action}</Action><ResourceRecordSet><Name>${name}</Name><Type>${type}</Type><TTL>60</TTL><ResourceRecords><ResourceRecord><Value>db.example.net</Value></ResourceRecord></ResourceRecords></ResourceRecordSet></Change>`).join('') +
  '</Changes></ChangeBatch></ChangeResourceRecordSetsRequest>'
const route53 = (method, path, body = null) => call('route53', 'us-east-1', { method, path, body, headers: body ? { 'content-type': 'application/xml' } : {} })
const runFailover = (calls) => check({ calls, template: failover, params })
const auth = (entry) => authorizations(entry, { account: '123456789012', topicKeys: {} })

test('route53: a record change is checked on its zone with the normalized names, actions and types; GetChange on the change', async () => {
  const upsert = route53('POST', '/2013-04-01/hostedzone/Z0FAILOVER/rrset/', changes([['UPSERT', 'DB.Shop.Example.com.', 'CNAME']]))
  const [c] = auth(upsert).checks
  assert.equal(c.resource, 'arn:aws:route53:::hostedzone/Z0FAILOVER')
  assert.deepEqual(c.context['route53:ChangeResourceRecordSetsNormalizedRecordNames'], ['db.shop.example.com'])
  assert.deepEqual(auth(route53('POST', '/2013-04-01/hostedzone/Z0FAILOVER/rrset', changes([['UPSERT', '*.shop.example.com', 'a']]))).checks[0].context, {
    'route53:ChangeResourceRecordSetsActions': ['UPSERT'],
    'route53:ChangeResourceRecordSetsNormalizedRecordNames': ['\\052.shop.example.com'],
    'route53:ChangeResourceRecordSetsRecordTypes': ['A'],
  })
  const wait = route53('GET', '/2013-04-01/change/C2682N5HXP0BZ4')
  assert.equal(auth(wait).checks[0].resource, 'arn:aws:route53:::change/C2682N5HXP0BZ4')
  const ok = await runFailover([upsert, wait])
  assert.equal(ok.failures, 0)
  assert.deepEqual(Object.keys(ok.functions.orchestrator.calls).sort(), ['route53:ChangeResourceRecordSets us-east-1', 'route53:GetChange us-east-1'])

  const other = await runFailover([route53('POST', '/2013-04-01/hostedzone/Z0FAILOVER/rrset/', changes([['UPSERT', 'db.shop.example.com', 'CNAME'], ['DELETE', 'api.shop.example.com', 'CNAME']]))])
  const [k] = Object.keys(other.functions.orchestrator.denied)
  assert.match(k, /route53:ChangeResourceRecordSets on arn:aws:route53:::hostedzone\/Z0FAILOVER/)
  assert.match(other.functions.orchestrator.denied[k].near.join(), /DnsFlip: grants it, but its Condition fails/)
})

test('ssm: a parameter ARN drops the leading slash (and a :version selector); tags on create are authorized on parameter/ + the name as given', async () => {
  const put = json('ssm', 'us-west-2', 'AmazonSSM.PutParameter', { Name: '/lifeboat/failover/state', Value: 'x', Type: 'String', Tags: [{ Key: 'lifeboat:run', Value: 'r1' }] })
  assert.deepEqual(auth(put).checks.map((c) => `${c.action} ${c.resource}`), [
    'ssm:PutParameter arn:aws:ssm:us-west-2:123456789012:parameter/lifeboat/failover/state',
    'ssm:AddTagsToResource arn:aws:ssm:us-west-2:123456789012:parameter//lifeboat/failover/state',
  ])
  const overwrite = json('ssm', 'us-west-2', 'AmazonSSM.PutParameter', { Name: 'lifeboat/plain', Value: 'x', Type: 'String', Overwrite: true })
  const [o] = auth(overwrite).checks
  assert.equal(o.resource, 'arn:aws:ssm:us-west-2:123456789012:parameter/lifeboat/plain')
  assert.equal(o.context['ssm:Overwrite'], 'true')
  const get = json('ssm', 'us-west-2', 'AmazonSSM.GetParameter', { Name: '/lifeboat/failover/state:3' })
  assert.equal(auth(get).checks[0].resource, 'arn:aws:ssm:us-west-2:123456789012:parameter/lifeboat/failover/state')
  const ok = await runFailover([put, overwrite, get])
  assert.equal(ok.failures, 0)

  // Without a leading slash, the tagging ARN has one slash: StateTags (parameter//lifeboat/*) does not cover it.
  const bare = await runFailover([json('ssm', 'us-west-2', 'AmazonSSM.PutParameter', { Name: 'lifeboat/plain', Value: 'x', Type: 'String', Tags: [{ Key: 'k', Value: 'v' }] })])
  assert.deepEqual(Object.keys(bare.functions.orchestrator.denied).map((k) => k.split(' -> ')[1].split(' with ')[0]), ['ssm:AddTagsToResource on arn:aws:ssm:us-west-2:123456789012:parameter/lifeboat/plain'])
})

test('secretsmanager: PutSecretValue by name is checked on the full ARN the emulator held, with its tags', async () => {
  const arn = 'arn:aws:secretsmanager:us-west-2:123456789012:secret:lifeboat/db/prod-AbC123'
  const body = { SecretId: 'lifeboat/db/prod', SecretString: '{}', ClientRequestToken: '22222222-2222-2222-2222-222222222222' }
  const put = (tags) => json('secretsmanager', 'us-west-2', 'secretsmanager.PutSecretValue', body, { secrets: { 'lifeboat/db/prod': arn }, tags: { [arn]: tags } })
  const [c] = auth(put({ 'lifeboat:managed': 'true' })).checks
  assert.deepEqual([c.action, c.resource, c.context['secretsmanager:SecretId']], ['secretsmanager:PutSecretValue', arn, arn])
  assert.equal((await runFailover([put({ 'lifeboat:managed': 'true' })])).failures, 0)
  const untagged = await runFailover([put({})])
  const [k] = Object.keys(untagged.functions.orchestrator.denied)
  assert.match(k, /secretsmanager:PutSecretValue on arn:aws:secretsmanager:us-west-2:123456789012:secret:lifeboat\/db\/prod-\?{6}/, 'the suffix is shown as a pattern')
  assert.equal(untagged.functions.orchestrator.denied[k].example, arn)
  assert.match(untagged.functions.orchestrator.denied[k].near.join(), /Credentials: grants it, but its Condition fails/)
  // Named by name with no recorded ARN: said, not guessed (and not a failure).
  const unknown = await runFailover([json('secretsmanager', 'us-west-2', 'secretsmanager.PutSecretValue', body)])
  assert.equal(unknown.failures, 0)
  assert.match(Object.keys(unknown.functions.orchestrator.unknown).join(), /secret lifeboat\/db\/prod named without its ARN/)
})

test('rds: a cross-region read replica is authorized on the new replica and on its source', async () => {
  const body = 'Action=CreateDBInstanceReadReplica&DBInstanceIdentifier=prod-db-dr&SourceDBInstanceIdentifier=arn%3Aaws%3Ards%3Aus-east-1%3A123456789012%3Adb%3Aprod-db'
  const r = await runFailover([{ ...rds(body), app: 'lifeboat-orchestrator', region: 'us-west-2' }])
  assert.deepEqual(Object.keys(r.functions.orchestrator.denied).map((k) => k.split(' -> ')[1]), ['rds:CreateDBInstanceReadReplica on arn:aws:rds:us-east-1:123456789012:db:prod-db'])
})

test('fromCalls: a hosted zone id the emulator made at random is found, per log file, by the zone name', async () => {
  const list = (id, file, zones) => ({ ...route53('GET', `/2013-04-01/hostedzone/${id}/rrset`), zones, _at: `${file}:1` })
  const fromCalls = { ZoneIds: { hostedZonesNamed: ['shop.example.com'] } }
  assert.deepEqual(derivedParameters(fromCalls, [list('ZA', 'a.jsonl', { ZA: 'Shop.Example.com.' }), list('ZB', 'a.jsonl', { ZB: 'other.example.com.' })]), { ZoneIds: ['ZA'] })
  assert.deepEqual(derivedParameters(fromCalls, [list('ZB', 'b.jsonl', { ZB: 'other.example.com.' })]), {}, 'none seen: the parameter keeps its value')
  assert.throws(() => derivedParameters({ ZoneIds: { byTag: 'x' } }, []), /fromCalls.ZoneIds: expected \{"hostedZonesNamed"/)

  const p = { ...JSON.parse(readFileSync(params, 'utf8')), fromCalls }
  const r = await check({ template: failover, params: p, calls: [
    // a.jsonl: the test's zone (its own seeding named it) and a call to it: allowed.
    { ...list('ZA', 'a.jsonl', { ZA: 'shop.example.com.' }), app: null },
    list('ZA', 'a.jsonl', { ZA: 'shop.example.com.' }),
    // b.jsonl: another emulator, whose shop.example.com has another id; a call to a zone of
    // another name there is denied (and a's zone means nothing in b).
    list('ZB1', 'b.jsonl', { ZB1: 'shop.example.com.' }),
    list('ZX', 'b.jsonl', { ZX: 'other.example.com.' }),
    list('ZA', 'b.jsonl', {}),
    // c.jsonl: no zone of that name seen: the placeholder stands.
    list('Z0PLACEHOLDER', 'c.jsonl', {}),
  ] })
  const f = r.functions.orchestrator
  assert.deepEqual(Object.keys(f.denied).map((k) => k.split(' -> ')[1]).sort(), [
    'route53:ListResourceRecordSets on arn:aws:route53:::hostedzone/ZA',
    'route53:ListResourceRecordSets on arn:aws:route53:::hostedzone/ZX',
  ])
  assert.match(f.denied[Object.keys(f.denied).find((k) => k.includes('/ZX'))].near.join(), /ZoneRead: grants route53:ListResourceRecordSets on arn:\*:route53:::hostedzone\/ZB1 only/)
})

test('states: StartExecution is checked on the state machine ARN (a qualified one with its qualifier); other operations are unmapped', async () => {
  const start = (arn) => json('states', 'us-east-1', 'AWSStepFunctions.StartExecution', { stateMachineArn: arn, name: 'run-1', input: '{}' }, { headers: { 'x-amz-target': 'AWSStepFunctions.StartExecution', 'content-type': 'application/x-amz-json-1.0' } })
  const own = 'arn:aws:states:us-east-1:123456789012:stateMachine:lifeboat-orchestrator'
  assert.deepEqual(auth(start(own)).checks, [{ action: 'states:StartExecution', resource: own, context: {} }])
  assert.deepEqual(auth(start(`${own}:prod`)).checks[0].context, { 'states:StateMachineQualifier': 'prod' })
  const r = await check({ template: failover, params: { ...JSON.parse(readFileSync(params, 'utf8')), stackName: 'lifeboat' }, calls: [start(own), start('arn:aws:states:us-east-1:123456789012:stateMachine:someone-else')] })
  assert.deepEqual(Object.keys(r.functions.orchestrator.denied).map((k) => k.split(' -> ')[1]), ['states:StartExecution on arn:aws:states:us-east-1:123456789012:stateMachine:someone-else'])
  assert.ok(!r.functions.orchestrator.unused.some((u) => u.includes('Loop')), 'the own loop marks Loop used')
  const describe = json('states', 'us-east-1', 'AWSStepFunctions.DescribeExecution', { executionArn: 'x' }, { headers: { 'x-amz-target': 'AWSStepFunctions.DescribeExecution', 'content-type': 'application/x-amz-json-1.0' } })
  assert.equal(auth(describe).unmapped, true)
})

test('mocked lines (shared/src/call_log.rs) are checked alike, count as uses, and are counted as mocked', async () => {
  const r = await run([{ ...s3('GET', '/data-bucket/data/a.json', 200), source: 'aws-smithy-mocks' }, s3('GET', '/data-bucket/data/b.json', 200)])
  const f = r.functions.worker
  assert.equal(r.failures, 0)
  assert.equal(f.requests, 2)
  assert.equal(f.mocked, 1)
  assert.ok(!f.unused.some((u) => u.includes('DataRead')))
})

test('cloudwatch over RPC v2 CBOR (mocked lines): the operation is the path\'s; PutMetricData\'s namespace cannot be known', () => {
  const cbor = (op) => ({ app: 'lifeboat-worker', source: 'aws-smithy-mocks', service: 'monitoring', region: 'us-west-2', method: 'POST', path: `/service/GraniteServiceVersion20100801/operation/${op}`, query: '', headers: { 'content-type': 'application/cbor' }, body: null, status: 200 })
  const get = auth(cbor('GetMetricData'))
  assert.equal(get.operation, 'GetMetricData')
  assert.deepEqual(get.checks, [{ action: 'cloudwatch:GetMetricData', resource: '*', context: {} }])
  assert.match(auth(cbor('PutMetricData')).checks[0].unknown, /namespace/)
  assert.equal(auth({ ...cbor('GetMetricData'), headers: {} }).unmapped, true, 'not CBOR: no Action, unmapped')
})

test('rds: a restore of an encrypted snapshot, or a same-region replica of an encrypted instance, implies the key RDS uses as the caller', () => {
  const key = 'arn:aws:kms:us-west-2:123456789012:key/lifeboat-dr'
  const snap = 'arn:aws:rds:us-west-2:123456789012:snapshot:lifeboat-db-20261207-0000'
  const restore = { ...rds(`Action=RestoreDBInstanceFromDBSnapshot&DBInstanceIdentifier=db-dr&DBSnapshotIdentifier=${encodeURIComponent(snap)}`), region: 'us-west-2' }
  const via = { 'kms:ViaService': 'rds.us-west-2.amazonaws.com' }
  assert.deepEqual(auth({ ...restore, encrypted_with: { [snap]: key } }).implied.map((c) => [c.action, c.resource, c.context]), [
    ['kms:DescribeKey', key, via],
    ['kms:CreateGrant', key, { ...via, 'kms:GrantIsForAWSResource': 'true' }],
  ])
  assert.deepEqual(auth(restore).implied, [], 'no key recorded: nothing implied')
  const source = 'arn:aws:rds:us-west-2:123456789012:db:db-replica'
  const replica = { ...rds('Action=CreateDBInstanceReadReplica&DBInstanceIdentifier=db-drill&SourceDBInstanceIdentifier=db-replica'), region: 'us-west-2', encrypted_with: { [source]: key } }
  assert.deepEqual(auth(replica).implied.map((c) => c.resource), [key, key])
  const other = 'arn:aws:kms:us-west-2:123456789012:key/other'
  assert.deepEqual(auth({ ...replica, body: `${replica.body}&KmsKeyId=${encodeURIComponent(other)}` }).implied.map((c) => c.resource), [other, other], 'a named key is the replica\'s')
})

// cost-anomaly's calls (fixtures/cost-template.yaml): AWS Backup vaults, Cost Explorer, S3 uploads.
const costTemplate = join(dir, 'cost-template.yaml')
const costCall = (service, region, extra) => ({ app: 'lifeboat-cost', service, region, method: 'GET', path: '/', query: '', headers: {}, status: 200, _at: 'fixture', ...extra })
const costParams = (parameters) => ({ account: '123456789012', region: 'us-east-1', parameters, resources: { CostRole: { Ref: 'lifeboat-CostRole' } } })
const vaultPoints = (region, vault) => costCall('backup', region, { path: `/backup-vaults/${vault}/recovery-points/`, query: 'maxResults=1000' })
const costAndUsage = costCall('ce', 'us-east-1', { method: 'POST', headers: { 'x-amz-target': 'AWSInsightsIndexService.GetCostAndUsage', 'content-type': 'application/x-amz-json-1.1' }, body: JSON.stringify({ TimePeriod: { Start: '2026-12-06', End: '2026-12-07' }, Granularity: 'DAILY', Metrics: ['UnblendedCost'] }) })

test('backup: ListRecoveryPointsByBackupVault is checked on the vault ARN, in the region the request went to', async () => {
  assert.deepEqual(auth(vaultPoints('us-east-1', 'lifeboat-vault')), {
    service: 'backup', operation: 'ListRecoveryPointsByBackupVault', implied: [],
    checks: [{ action: 'backup:ListRecoveryPointsByBackupVault', resource: 'arn:aws:backup:us-east-1:123456789012:backup-vault:lifeboat-vault', context: {} }],
  })
  assert.equal(auth(costCall('backup', 'us-east-1', { path: '/backup-vaults/v/recovery-points/arn%3Aaws%3Ards%3Aus-east-1%3A1%3Asnapshot%3Ax' })).operation, 'DescribeRecoveryPoint', 'one recovery point is another operation')
  const p = costParams({ VaultNames: ['lifeboat-vault'] })
  const ok = await check({ template: costTemplate, params: p, calls: [vaultPoints('us-east-1', 'lifeboat-vault')] })
  assert.equal(ok.failures, 0)
  const bad = await check({ template: costTemplate, params: p, calls: [vaultPoints('us-west-2', 'lifeboat-vault'), vaultPoints('us-east-1', 'other-vault')] })
  const keys = Object.keys(bad.functions.cost.denied)
  assert.equal(keys.length, 2)
  assert.match(keys.find((k) => k.includes('us-west-2')), /with \{"aws:RequestedRegion":"us-west-2"\}/, 'aws:RequestedRegion is the request\'s region')
  assert.match(bad.functions.cost.denied[keys.find((k) => k.includes('other-vault'))].near.join(), /Vaults: grants backup:ListRecoveryPointsByBackupVault on arn:\*:backup:\*:\*:backup-vault:lifeboat-vault only/)
})

test('ce: GetCostAndUsage is checked on "*" (or the billing view it names); granted only under its condition', async () => {
  assert.deepEqual(auth(costAndUsage).checks, [{ action: 'ce:GetCostAndUsage', resource: '*', context: {} }])
  const view = 'arn:aws:billing::123456789012:billingview/primary'
  assert.equal(auth({ ...costAndUsage, body: JSON.stringify({ BillingViewArn: view }) }).checks[0].resource, view)
  assert.equal(auth({ ...costAndUsage, headers: { ...costAndUsage.headers, 'x-amz-target': 'AWSInsightsIndexService.GetCostForecast' } }).unmapped, true)
  const off = await check({ template: costTemplate, params: costParams({}), calls: [costAndUsage] })
  assert.deepEqual(Object.keys(off.functions.cost.denied).map((k) => k.split(' -> ')[1].split(' with ')[0]), ['ce:GetCostAndUsage on *'])
  const on = await check({ template: costTemplate, params: costParams({ CostExplorerEnabled: 'true' }), calls: [costAndUsage] })
  assert.equal(on.failures, 0)
  assert.ok(!on.functions.cost.unused.some((u) => u.includes('CostAndUsage')))
})

test('s3: ListMultipartUploads on the bucket, ListParts on the upload\'s object, ListObjectVersions as s3:ListBucketVersions', async () => {
  const s3call = (path, query) => costCall('s3', 'us-west-2', { path, query })
  const uploads = s3call('/backups', 'uploads&max-uploads=1000')
  const parts = s3call('/backups/exports/a.parquet', 'uploadId=abc&max-parts=1000')
  const versions = s3call('/backups', 'versions&prefix=backups%2F')
  assert.deepEqual(auth(uploads).checks, [{ action: 's3:ListBucketMultipartUploads', resource: 'arn:aws:s3:::backups', context: {} }])
  assert.deepEqual(auth(parts).checks, [{ action: 's3:ListMultipartUploadParts', resource: 'arn:aws:s3:::backups/exports/a.parquet', context: {} }])
  assert.deepEqual(auth(versions).checks, [{ action: 's3:ListBucketVersions', resource: 'arn:aws:s3:::backups', context: { 's3:prefix': 'backups/' } }])
  const r = await check({ template: costTemplate, params: costParams({}), calls: [uploads, parts, versions] })
  assert.equal(r.failures, 0)
  assert.deepEqual(r.functions.cost.unused, ['CostVaults Vaults: backup:ListRecoveryPointsByBackupVault'])
})

test('s3: a mocked client\'s virtual-hosted-style request names its bucket in the host', () => {
  assert.equal(virtualHostedBucket('backups.s3.us-east-1.amazonaws.com'), 'backups')
  assert.equal(virtualHostedBucket('acme.backups.s3.amazonaws.com'), 'acme.backups')
  assert.equal(virtualHostedBucket('backups.s3-us-west-2.amazonaws.com'), 'backups')
  assert.equal(virtualHostedBucket('backups.s3.dualstack.eu-west-1.amazonaws.com'), 'backups')
  assert.equal(virtualHostedBucket('s3.us-east-1.amazonaws.com'), null, 'path-style')
  assert.equal(virtualHostedBucket('127.0.0.1:36827'), null, 'the emulator: path-style')
  const mocked = (host, path, query) => ({ app: 'lifeboat-cost', source: 'aws-smithy-mocks', service: 's3', region: 'us-east-1', method: 'GET', host, path, query, headers: {}, status: 200 })
  assert.deepEqual(auth(mocked('backups.s3.us-east-1.amazonaws.com', '/', 'versions')).checks, [{ action: 's3:ListBucketVersions', resource: 'arn:aws:s3:::backups', context: {} }])
  assert.deepEqual(auth(mocked('backups.s3.us-east-1.amazonaws.com', '/exports/a b.parquet', 'uploadId=u1')).checks, [{ action: 's3:ListMultipartUploadParts', resource: 'arn:aws:s3:::backups/exports/a b.parquet', context: {} }])
  assert.deepEqual(auth(mocked('s3.us-east-1.amazonaws.com', '/backups/exports/a.parquet', 'uploadId=u1')).checks[0].resource, 'arn:aws:s3:::backups/exports/a.parquet', 'path-style host: the bucket is the first segment')
})
