import type { z } from 'zod';
import { documented, given, ifThen, type JsonSchema, orNotGiven, toJsonSchema } from './documentedSchema.js';
import type { JobSpecPolicy } from './jobSpec.js';
import { USERS_CSV_OR_BLANK } from './specPatterns.js';

/**
 * How the job spec's rules that live in code read in the OpenAPI document
 * (see documentedSchema.ts): rules across fields (auth, network) and the
 * users CSV's description.
 */

export const USERS_CSV_DESCRIPTION =
  'the users CSV: a header with username and email (role and display_name optional), one user per line, usernames ' +
  'unique; the pattern is the canonical form the service stores, and the parser also takes a BOM, CRLF, quoted cells ' +
  'and other columns (dropped, with a warning)';

/** The users CSV where blank text means none (the spec's field, and a change's with null for "remove"). */
export function blankMeansNoUsers(schema: z.ZodType, alsoNull: boolean): z.ZodType {
  return documented(schema, {
    ...(alsoNull ? { type: ['string', 'null'] } : { type: 'string' }),
    pattern: USERS_CSV_OR_BLANK,
    description: `${USERS_CSV_DESCRIPTION}; blank: no users${alsoNull ? ' (null too)' : ''}`,
  });
}

/**
 * What the auth schemas check in code, for the document: assume_role needs a
 * role ARN (in an allowed account, when the operator lists them) or a team
 * account; temporary keys need their session token; and where access keys
 * are off, only assume_role is offered.
 */
export function documentAuth(
  schemas: { auth: z.ZodType; assumeRole: z.ZodType; accessKeysAllowed: z.ZodType },
  policy: JobSpecPolicy,
  roleArnPattern: RegExp,
): void {
  const accounts = policy.allowedAccountIds ?? [];
  const { source } = roleArnPattern;
  const roleArn = accounts.length ? source.replace('(\\d{12})', `(${accounts.join('|')})`) : source;
  const assumeRole = toJsonSchema(schemas.assumeRole) as { properties: Record<string, unknown> };
  assumeRole.properties.roleArn = orNotGiven({ type: 'string', pattern: roleArn });
  documented(schemas.assumeRole, { ...assumeRole, anyOf: [given('roleArn'), given('teamAccountId')] });
  documented(schemas.accessKeysAllowed, {
    ...toJsonSchema(schemas.accessKeysAllowed),
    ...ifThen(
      { required: ['accessKeyId'], properties: { accessKeyId: { type: 'string', pattern: '^ASIA' } } },
      given('sessionToken'),
    ),
  });
  if (!policy.allowAccessKeys) documented(schemas.auth, toJsonSchema(schemas.assumeRole));
}

/** The network's rules across its fields: a VPC and a subnet together, security groups only with them, once each. */
export function networkJsonSchema(base: JsonSchema): JsonSchema {
  const props = base.properties as Record<string, JsonSchema>;
  props.securityGroupIds = { ...props.securityGroupIds, uniqueItems: true };
  const someGroups = { required: ['securityGroupIds'], properties: { securityGroupIds: { minItems: 1 } } };
  return {
    ...base,
    allOf: [
      ifThen(given('subnetId'), given('vpcId')),
      ifThen(given('vpcId'), given('subnetId')),
      ifThen(someGroups, given('vpcId')),
    ],
  };
}
