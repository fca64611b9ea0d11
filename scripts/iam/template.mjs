// Reads infra/template.yaml (CloudFormation / SAM, with its short-form intrinsic tags) and
// resolves each Lifeboat function's execution role to plain IAM policy documents for one set of
// parameter values (scripts/iam/test-parameters.json). Used by check.mjs.
//
// Resolved: Ref (parameters, pseudo parameters, resources by the values the parameter file
// gives them), Fn::GetAtt, Fn::Sub (both forms, ${!Literal}), Fn::If, Fn::Equals, Fn::Not,
// Fn::And, Fn::Or, Condition, Fn::Join, Fn::Select, Fn::Split; AWS::NoValue removes the item.
// Anything else (Fn::ImportValue, Fn::FindInMap, ...) stops the check with the path where it was.

import { readFileSync } from 'node:fs'
import YAML from 'yaml'

const NO_VALUE = Symbol('AWS::NoValue')

// Short-form tags -> the long form, for scalars, sequences and mappings alike.
const SHORT = {
  '!Ref': 'Ref', '!Condition': 'Condition', '!GetAtt': 'Fn::GetAtt', '!Sub': 'Fn::Sub',
  '!If': 'Fn::If', '!Equals': 'Fn::Equals', '!Not': 'Fn::Not', '!And': 'Fn::And', '!Or': 'Fn::Or',
  '!Join': 'Fn::Join', '!Select': 'Fn::Select', '!Split': 'Fn::Split', '!Base64': 'Fn::Base64',
  '!GetAZs': 'Fn::GetAZs', '!ImportValue': 'Fn::ImportValue', '!FindInMap': 'Fn::FindInMap',
  '!Cidr': 'Fn::Cidr',
}

function customTags() {
  const tags = []
  for (const [tag, fn] of Object.entries(SHORT)) {
    const scalar = fn === 'Fn::GetAtt'
      ? (s) => ({ [fn]: s.split('.').length > 2 ? [s.split('.')[0], s.split('.').slice(1).join('.')] : s.split('.') })
      : (s) => ({ [fn]: s })
    tags.push({ tag, resolve: scalar })
    tags.push({ tag, collection: 'seq', resolve: (seq) => ({ [fn]: seq.toJSON() }) })
    tags.push({ tag, collection: 'map', resolve: (map) => ({ [fn]: map.toJSON() }) })
  }
  return tags
}

export function readTemplate(path) {
  const doc = YAML.parse(readFileSync(path, 'utf8'), { customTags: customTags(), maxAliasCount: -1 })
  if (!doc || typeof doc !== 'object' || !doc.Resources) throw new Error(`${path}: no Resources`)
  return doc
}

// A template bound to parameter values: resolve(value) evaluates the intrinsics in it.
export class Bound {
  constructor(template, params) {
    this.t = template
    this.p = params
    this.account = params.account
    this.region = params.region
    this.partition = params.partition ?? 'aws'
    this.values = {}
    for (const [name, def] of Object.entries(template.Parameters ?? {})) {
      let v = name in (params.parameters ?? {}) ? params.parameters[name] : def.Default
      if (v === undefined) throw new Error(`parameter ${name}: no value in the parameter file and no Default`)
      if (def.Type === 'CommaDelimitedList' && !Array.isArray(v)) v = v === '' ? [''] : String(v).split(',')
      this.values[name] = v
    }
    for (const name of Object.keys(params.parameters ?? {})) {
      if (!(name in this.values)) (this.ignored ??= []).push(name)
    }
    this.conditions = {}
  }

  pseudo(name) {
    switch (name) {
      case 'AWS::Region': return this.region
      case 'AWS::AccountId': return this.account
      case 'AWS::Partition': return this.partition
      case 'AWS::StackName': return this.p.stackName ?? 'lifeboat'
      case 'AWS::URLSuffix': return 'amazonaws.com'
      case 'AWS::NoValue': return NO_VALUE
      default: return undefined
    }
  }

  ref(name, where) {
    const pseudo = this.pseudo(name)
    if (pseudo !== undefined) return pseudo
    if (name in this.values) return this.values[name]
    return this.attr(name, 'Ref', where)
  }

  attr(resource, attribute, where) {
    const given = this.p.resources?.[resource]
    if (given && attribute in given) return given[attribute]
    if (!(resource in this.t.Resources)) throw new Error(`${where}: ${resource} is neither a parameter nor a resource`)
    throw new Error(`${where}: the parameter file gives no ${attribute} for resource ${resource} (add resources.${resource}.${attribute})`)
  }

  condition(name) {
    if (!(name in this.conditions)) {
      const def = this.t.Conditions?.[name]
      if (def === undefined) throw new Error(`condition ${name} is not defined`)
      this.conditions[name] = Boolean(this.resolve(def, `Conditions.${name}`))
    }
    return this.conditions[name]
  }

  sub(text, vars, where) {
    return text.replace(/\$\{([^}]+)\}/g, (whole, name) => {
      if (name.startsWith('!')) return '${' + name.slice(1) + '}'
      if (vars && name in vars) return String(vars[name])
      if (name.includes('.')) {
        const [res, ...rest] = name.split('.')
        return String(this.attr(res, rest.join('.'), where))
      }
      const v = this.ref(name, where)
      if (Array.isArray(v)) throw new Error(`${where}: \${${name}} is a list`)
      return String(v)
    })
  }

  resolve(v, where = '') {
    if (Array.isArray(v)) {
      return v.map((x, i) => this.resolve(x, `${where}[${i}]`)).filter((x) => x !== NO_VALUE)
    }
    if (v === null || typeof v !== 'object') return v
    const keys = Object.keys(v)
    if (keys.length === 1) {
      const [k] = keys
      const a = v[k]
      const r = (x, w = k) => this.resolve(x, `${where}.${w}`)
      switch (k) {
        case 'Ref': return this.ref(a, where)
        case 'Condition': return this.condition(a)
        case 'Fn::GetAtt': {
          const [res, att] = Array.isArray(a) ? a : String(a).split('.')
          return this.attr(res, att, where)
        }
        case 'Fn::Sub': {
          if (typeof a === 'string') return this.sub(a, null, where)
          const vars = Object.fromEntries(Object.entries(a[1] ?? {}).map(([n, x]) => [n, r(x, n)]))
          return this.sub(a[0], vars, where)
        }
        case 'Fn::If': return this.condition(a[0]) ? r(a[1], 'then') : r(a[2], 'else')
        case 'Fn::Equals': return JSON.stringify(r(a[0])) === JSON.stringify(r(a[1]))
        case 'Fn::Not': return !r(a[0])
        case 'Fn::And': return a.every((x) => r(x))
        case 'Fn::Or': return a.some((x) => r(x))
        case 'Fn::Join': {
          const items = r(a[1])
          return (Array.isArray(items) ? items : [items]).join(a[0])
        }
        case 'Fn::Select': {
          const list = r(a[1])
          return list[Number(r(a[0]))]
        }
        case 'Fn::Split': return String(r(a[1])).split(a[0])
        default:
          if (k.startsWith('Fn::')) throw new Error(`${where}: ${k} is not supported by the checker`)
      }
    }
    const out = {}
    for (const [k, x] of Object.entries(v)) {
      const y = this.resolve(x, `${where}.${k}`)
      if (y !== NO_VALUE) out[k] = y
    }
    return out
  }
}

// AWS managed policies a role may attach, with the statements AWS documents for them
// (AWS Managed Policy Reference Guide).
export const MANAGED = {
  'service-role/AWSLambdaBasicExecutionRole': [
    { Effect: 'Allow', Action: ['logs:CreateLogGroup', 'logs:CreateLogStream', 'logs:PutLogEvents'], Resource: '*' },
  ],
  'service-role/AWSLambdaVPCAccessExecutionRole': [
    {
      Sid: 'AWSLambdaVPCAccessExecutionPermissions',
      Effect: 'Allow',
      Action: [
        'logs:CreateLogGroup', 'logs:CreateLogStream', 'logs:PutLogEvents',
        'ec2:CreateNetworkInterface', 'ec2:DescribeNetworkInterfaces', 'ec2:DescribeSubnets',
        'ec2:DeleteNetworkInterface', 'ec2:AssignPrivateIpAddresses', 'ec2:UnassignPrivateIpAddresses',
      ],
      Resource: '*',
    },
  ],
}

// The functions of the template: { name: { functionId, roleId, policies: [{name, document}] } }.
// A function's name is its cargo-lambda binary (Metadata.BuildProperties.Binary).
export function functionRoles(bound) {
  const res = bound.t.Resources
  const on = (id) => !res[id].Condition || bound.condition(res[id].Condition)
  const out = {}
  for (const [id, r] of Object.entries(res)) {
    if (r.Type !== 'AWS::Serverless::Function' && r.Type !== 'AWS::Lambda::Function') continue
    if (!on(id)) continue
    const name = r.Metadata?.BuildProperties?.Binary ?? id
    const role = r.Properties?.Role
    const roleId = role?.['Fn::GetAtt']?.[0] ?? (typeof role?.['Fn::GetAtt'] === 'string' ? role['Fn::GetAtt'].split('.')[0] : null)
    if (!roleId || !res[roleId]) throw new Error(`${id}: Role is not !GetAtt <Role>.Arn of a role in the template`)
    const policies = []
    const roleProps = bound.resolve(res[roleId].Properties ?? {}, `${roleId}.Properties`)
    for (const p of roleProps.Policies ?? []) policies.push({ name: `${roleId}/${p.PolicyName}`, document: p.PolicyDocument })
    for (const arn of roleProps.ManagedPolicyArns ?? []) {
      const key = String(arn).replace(/^arn:[^:]+:iam::aws:policy\//, '')
      if (!MANAGED[key]) throw new Error(`${roleId}: managed policy ${arn} has no statements in the checker (scripts/iam/template.mjs MANAGED)`)
      policies.push({ name: `${roleId}/managed:${key}`, document: { Version: '2012-10-17', Statement: MANAGED[key] }, managed: true })
    }
    for (const [pid, p] of Object.entries(res)) {
      if (p.Type !== 'AWS::IAM::Policy' && p.Type !== 'AWS::IAM::ManagedPolicy') continue
      const roles = p.Properties?.Roles ?? []
      if (!roles.some((x) => x?.Ref === roleId)) continue
      if (!on(pid)) continue
      const props = bound.resolve(p.Properties, `${pid}.Properties`)
      policies.push({ name: `${pid}/${props.PolicyName ?? props.ManagedPolicyName ?? pid}`, document: props.PolicyDocument })
    }
    // Give every statement an identifier (its Sid, else policy#index) for the explanations.
    for (const p of policies) {
      const st = Array.isArray(p.document.Statement) ? p.document.Statement : [p.document.Statement]
      p.document = { ...p.document, Statement: st.map((s, i) => ({ ...s, Sid: s.Sid ?? `${p.name.split('/').pop()}${i}`.replace(/[^A-Za-z0-9]/g, '') })) }
    }
    out[name] = { functionId: id, roleId, policies }
  }
  return out
}

// Topics encrypted with a KMS key: { topic ARN (Ref value): key ARN }.
export function encryptedTopics(bound) {
  const out = {}
  for (const [id, r] of Object.entries(bound.t.Resources)) {
    if (r.Type !== 'AWS::SNS::Topic' || !r.Properties?.KmsMasterKeyId) continue
    const key = r.Properties.KmsMasterKeyId
    let arn
    if (key?.Ref && bound.t.Resources[key.Ref]) arn = bound.attr(key.Ref, 'Arn', `${id}.KmsMasterKeyId`)
    else arn = bound.resolve(key, `${id}.KmsMasterKeyId`)
    out[bound.attr(id, 'Ref', id)] = arn
  }
  return out
}

// Key policies of the template's KMS keys: { key ARN: resolved KeyPolicy }.
export function templateKeyPolicies(bound) {
  const out = {}
  for (const [id, r] of Object.entries(bound.t.Resources)) {
    if (r.Type !== 'AWS::KMS::Key' || !r.Properties?.KeyPolicy) continue
    out[bound.attr(id, 'Arn', id)] = bound.resolve(r.Properties.KeyPolicy, `${id}.KeyPolicy`)
  }
  return out
}
