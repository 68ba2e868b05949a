/**
 * Entra (AADSTS) error responses: the JSON body shape, HTTP status and wording the real token
 * service uses, so that code under test parses exactly what it will meet in production.
 */
import { randomUUID } from 'node:crypto';

/** An OAuth error the server answers with; thrown inside handlers, turned into JSON at the edge. */
export class EntraError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    readonly code: number,
    readonly text: string,
    readonly suberror?: string,
  ) {
    super(`AADSTS${code}: ${text}`);
    this.name = 'EntraError';
  }
}

export interface EntraErrorBody {
  error: string;
  error_description: string;
  error_codes: number[];
  timestamp: string;
  trace_id: string;
  correlation_id: string;
  error_uri: string;
  suberror?: string;
}

/** Entra's timestamp format: `2024-05-01 12:34:56Z`. */
export function entraTimestamp(date = new Date()): string {
  return date.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

/** Builds the JSON body of an error response exactly as Entra lays it out. */
export function errorBody(err: EntraError, baseUrl: string, correlationId: string = randomUUID()): EntraErrorBody {
  const timestamp = entraTimestamp();
  const traceId = randomUUID();
  const body: EntraErrorBody = {
    error: err.error,
    error_description: `AADSTS${err.code}: ${err.text}\r\nTrace ID: ${traceId}\r\nCorrelation ID: ${correlationId}\r\nTimestamp: ${timestamp}`,
    error_codes: [err.code],
    timestamp,
    trace_id: traceId,
    correlation_id: correlationId,
    error_uri: `${baseUrl}/error?code=${err.code}`,
  };
  if (err.suberror) body.suberror = err.suberror;
  return body;
}

/** The errors this server produces, with Entra's codes and (as far as known) wording. */
export const Errors = {
  tenantNotFound: (tenant: string, error = 'invalid_request') => new EntraError(400, error, 90002,
    `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. `
    + 'Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.'),
  appNotFound: (clientId: string, tenantName: string) => new EntraError(400, 'unauthorized_client', 700016,
    `Application with identifier '${clientId}' was not found in the directory '${tenantName}'. This can happen if the `
    + 'application has not been installed by the administrator of the tenant or consented to by any user in the tenant. '
    + 'You may have sent your authentication request to the wrong tenant.'),
  invalidSecret: (clientId: string) => new EntraError(401, 'invalid_client', 7000215,
    'Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the '
    + `client secret ID, for a secret added to app '${clientId}'.`),
  expiredSecret: (clientId: string) => new EntraError(401, 'invalid_client', 7000222,
    `The provided client secret keys for app '${clientId}' are expired. Visit the Azure portal to create new keys for `
    + 'your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: '
    + 'https://aka.ms/certCreds.'),
  credentialRequired: () => new EntraError(401, 'invalid_client', 7000218,
    "The request body must contain the following parameter: 'client_assertion' or 'client_secret'."),
  credentialRequiredForClientCredentials: () => new EntraError(401, 'invalid_client', 7000216,
    "'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type."),
  publicClientWithCredential: () => new EntraError(401, 'invalid_client', 700025,
    "Client is public so neither 'client_assertion' nor 'client_secret' should be presented."),
  assertionKeyNotFound: (thumbprint: string, clientId: string) => new EntraError(401, 'invalid_client', 700027,
    `Client assertion contains an invalid signature. [Reason - The key was not found., Thumbprint of key used by client: `
    + `'${thumbprint}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for `
    + `app Id '${clientId}'.]`),
  assertionBadSignature: (clientId: string) => new EntraError(401, 'invalid_client', 700027,
    `Client assertion failed signature validation. [Reason - The provided signature value did not match the expected `
    + `signature value., Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '${clientId}'.]`),
  assertionCertificateExpired: (clientId: string) => new EntraError(401, 'invalid_client', 700027,
    `Client assertion contains an invalid signature. [Reason - The key used is expired., App Id '${clientId}'.]`),
  assertionAudience: () => new EntraError(401, 'invalid_client', 700023,
    'Client assertion audience claim does not match Realm issuer. Review the documentation at '
    + 'https://learn.microsoft.com/entra/identity-platform/certificate-credentials .'),
  assertionIssuer: () => new EntraError(401, 'invalid_client', 700021,
    "Client assertion application identifier doesn't match 'client_id' parameter. Review the documentation at "
    + 'https://learn.microsoft.com/entra/identity-platform/certificate-credentials .'),
  assertionLifetime: () => new EntraError(401, 'invalid_client', 700024,
    'Client assertion is not within its valid time range.'),
  assertionMalformed: () => new EntraError(401, 'invalid_client', 50027,
    'JWT token is invalid or malformed.'),
  assertionType: () => new EntraError(400, 'invalid_request', 50027,
    "Invalid client_assertion_type; expected 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'."),
  multipleResources: (scope: string) => new EntraError(400, 'invalid_scope', 700022,
    `The provided value for the input parameter scope is not valid because it contains more than one resource. Scope ${scope} is not valid.`),
  invalidScope: (scope: string, why = '') => new EntraError(400, 'invalid_scope', 70011,
    `The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid. The scope ${scope} is not valid.${why ? ' ' + why : ''}`),
  clientCredentialsScope: (scope: string) => new EntraError(400, 'invalid_scope', 1002012,
    `The provided value for scope ${scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`),
  consentRequired: (clientId: string, appName: string) => new EntraError(400, 'invalid_grant', 65001,
    `The user or administrator has not consented to use the application with ID '${clientId}' named '${appName}'. `
    + 'Send an interactive authorization request for this user and resource.', 'consent_required'),
  mfaRequired: (resourceAppId: string) => new EntraError(400, 'invalid_grant', 50076,
    'Due to a configuration change made by your administrator, or because you moved to a new location, you must use '
    + `multi-factor authentication to access '${resourceAppId}'.`, 'basic_action'),
  resourceNotFound: (resource: string, tenantName: string) => new EntraError(400, 'invalid_resource', 500011,
    `The resource principal named ${resource} was not found in the tenant named ${tenantName}. This can happen if the `
    + 'application has not been installed by the administrator of the tenant or consented to by any user in the tenant. '
    + 'You might have sent your authentication request to the wrong tenant.'),
  tenantlessGrant: () => new EntraError(400, 'invalid_request', 9001023,
    "The grant type isn't supported over the /common or /consumers endpoints. Please use the /organizations or tenant-specific endpoint."),
  singleTenantOnCommon: (clientId: string, name: string) => new EntraError(400, 'invalid_request', 50194,
    `Application '${clientId}'(${name}) is not configured as a multi-tenant application. Usage of the /common endpoint is `
    + "not supported for such applications created after '10/15/2018'. Use a tenant-specific endpoint or configure the "
    + 'application to be multi-tenant.'),
  userNotInTenant: (upn: string, tenantName: string) => new EntraError(400, 'invalid_grant', 50020,
    `User account '${upn}' from identity provider '${upn.endsWith('outlook.com') ? 'live.com' : 'https://sts.windows.net/'}' `
    + `does not exist in tenant '${tenantName}' and cannot access the application in that tenant. The account needs to be `
    + 'added as an external user in the tenant first. Sign out and sign in again with a different Microsoft Entra user account.'),
  badCredentials: () => new EntraError(400, 'invalid_grant', 50126,
    'Error validating credentials due to invalid username or password.'),
  missingParameter: (name: string) => new EntraError(400, 'invalid_request', 900144,
    `The request body must contain the following parameter: '${name}'.`),
  unsupportedGrant: (grant: string) => new EntraError(400, 'unsupported_grant_type', 70003,
    `The app requested an unsupported grant type '${grant}'.`),
  refreshTokenUnknown: () => new EntraError(400, 'invalid_grant', 70008,
    'The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.'),
  refreshTokenExpired: (issued: string) => new EntraError(400, 'invalid_grant', 700082,
    `The refresh token has expired due to inactivity. The token was issued on ${issued} and was inactive for 90.00:00:00.`),
  refreshTokenRevoked: () => new EntraError(400, 'invalid_grant', 50173,
    "The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password."),
  grantOtherClient: () => new EntraError(400, 'invalid_grant', 70000,
    'Provided grant is invalid or malformed: it was issued to a different client.'),
  codeRedeemed: () => new EntraError(400, 'invalid_grant', 54005,
    'OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.'),
  codeInvalid: () => new EntraError(400, 'invalid_grant', 9002313,
    'Invalid request. Request is malformed or invalid.'),
  codeExpired: () => new EntraError(400, 'invalid_grant', 70008,
    'The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.'),
  pkceMismatch: () => new EntraError(400, 'invalid_grant', 501481,
    'The Code_Verifier does not match the code_challenge supplied in the authorization request.'),
  pkceMissing: () => new EntraError(400, 'invalid_request', 50148,
    'The code_verifier does not match the code_challenge supplied in the authorization request for PKCE.'),
  redirectMismatchOnRedeem: (uri: string) => new EntraError(400, 'invalid_grant', 500112,
    `The reply address '${uri}' does not match the reply address provided when requesting Authorization code.`),
  redirectNotRegistered: (uri: string, clientId: string) => new EntraError(400, 'invalid_request', 50011,
    `The redirect URI '${uri}' specified in the request does not match the redirect URIs configured for the application `
    + `'${clientId}'. Make sure the redirect URI sent in the request matches one added to your application in the Azure portal. `
    + 'Navigate to https://aka.ms/redirectUriMismatchError to learn more about how to fix this.'),
  unsupportedResponseType: (type: string) => new EntraError(400, 'unsupported_response_type', 700054,
    `response_type '${type}' is not enabled for the application.`),
  authorizationPending: () => new EntraError(400, 'authorization_pending', 70016,
    'OAuth 2.0 device flow error. Authorization is pending. Continue polling.'),
  authorizationDeclined: () => new EntraError(400, 'authorization_declined', 70000,
    'The user denied the authorization request on the device login page.'),
  deviceCodeExpired: () => new EntraError(400, 'expired_token', 70019,
    'Verification code expired.'),
  deviceCodeInvalid: () => new EntraError(400, 'invalid_grant', 70000,
    "The provided value for the input parameter 'device_code' is not valid."),
  throttled: () => new EntraError(429, 'temporarily_unavailable', 90055,
    'There are too many incoming requests. Please retry after the time given in the Retry-After header.'),
  transient: () => new EntraError(500, 'server_error', 90033,
    'A transient error has occurred. Please try again.'),
  notFound: (path: string) => new EntraError(404, 'invalid_request', 90056,
    `The resource '${path}' does not exist on this test identity server.`),
  methodNotAllowed: () => new EntraError(405, 'invalid_request', 900561,
    'The endpoint only accepts POST requests.'),
};
