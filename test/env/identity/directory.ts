/**
 * The directory behind the local identity server: tenants, users, app registrations, consents and
 * Exchange mailbox permissions. One mutable `Directory` per server, so a test can change a flag
 * (revoke consent, require MFA, expire a secret) without touching other tests.
 *
 * The exported constants are the fixture other parts of the test bed rely on (Dovecot users,
 * integration tests, the sandbox); keep their names.
 */
import { createHash, X509Certificate, type KeyObject } from 'node:crypto';

export interface TenantFixture {
  tenantId: string;
  domains: string[];
}

export const CONTOSO: TenantFixture = {
  tenantId: '85d56e73-1db7-448c-bbcc-afeb9120ddff',
  domains: ['contoso.onmicrosoft.com', 'contoso.com'],
};
export const FABRIKAM: TenantFixture = {
  tenantId: '1325746b-aca6-4493-8f3b-9cb40157820e',
  domains: ['fabrikam.com'],
};
/** The fixed tenant of all personal Microsoft accounts (the same GUID as in Entra). */
export const CONSUMERS_TENANT_ID = '9188040d-6c67-4c5b-b112-36a304b66dad';

export const USERS = {
  alice: 'alice@contoso.com',
  bob: 'bob@contoso.com',
  /** Shared mailbox; alice has FullAccess. It cannot sign in itself. */
  support: 'support@contoso.com',
  /** Personal Microsoft account (consumers tenant). */
  carol: 'carol@outlook.com',
  dave: 'dave@fabrikam.com',
} as const;

/** Password of every user on the sign-in and device-login pages. */
export const USER_PASSWORD = 'Passw0rd!';

export interface AppFixture {
  clientId: string;
  displayName: string;
  secret?: string;
  expiredSecret?: string;
}

export const APPS = {
  /**
   * Confidential, CONTOSO; IMAP/POP.AccessAsApp and SMTP.SendAsApp with admin consent; Exchange SP
   * with access to alice + support.
   */
  daemon: {
    clientId: 'ea1239f1-d7fa-4758-95b3-4f249f663f34',
    displayName: 'Contoso Mail Daemon',
    secret: 'Dmn8Q~k2v9x1TqWZr3LpYb7NcHs4JfMe0aUiGo5x',
    expiredSecret: 'Old8Q~Xw3e5r7t9y1u3i5o7p9a1s3d5f7g9h1j3k',
  },
  /** Like `daemon` (SP, access to alice + support) but only IMAP/POP.AccessAsApp: reads, cannot send. */
  daemonReader: {
    clientId: '5b0f2c1e-8d3a-4f6b-9e27-c41d8a7b3f90',
    displayName: 'Contoso Mail Reader Daemon',
    secret: 'Rdr8Q~Tg5h7j9k1l3z5x7c9v1b3n5m7q9w1e3r5t',
  },
  /** Roles granted, but no Exchange service principal / mailbox permission. */
  daemonNoServicePrincipal: {
    clientId: 'a022af30-4b46-4f63-a107-4f27f6e97d6f',
    displayName: 'Contoso Daemon Without Exchange SP',
    secret: 'Nsp8Q~Lr4t6y8u0i2o4p6a8s0d2f4g6h8j0k2l4z',
  },
  /** Confidential with a secret, no application permissions. */
  daemonNoRoles: {
    clientId: 'cdfee607-155b-4bc8-84f2-7c7a946b515f',
    displayName: 'Contoso Daemon Without Roles',
    secret: 'Nrl8Q~Qa1z2x3c4v5b6n7m8q9w0e1r2t3y4u5i6o',
  },
  /** Confidential with certificate credentials (register with `directory.registerCertificate`). */
  certApp: {
    clientId: 'e01830d3-332f-4364-ae81-edd1631b747a',
    displayName: 'Contoso Certificate Daemon',
  },
  /** Public client, multi-tenant + personal accounts, delegated IMAP/POP/SMTP.Send/offline_access/User.Read consent. */
  publicApp: {
    clientId: '80f86c41-6b24-46e2-8c07-64bad3a8632d',
    displayName: 'Mail Reader (public client)',
  },
  /** "Allow public client flows" off; has a secret so it can still act as a web app. */
  publicDisabled: {
    clientId: '492e0d54-a132-4aa0-9764-640e30f03f4e',
    displayName: 'Mail Reader Web Only',
    secret: 'Pub8Q~Zx9c8v7b6n5m4l3k2j1h0g9f8d7s6a5p4o',
  },
  /** Public client nobody consented to. */
  noConsent: {
    clientId: '28bcc53a-e935-4ec0-9f9f-e4ecc13ab958',
    displayName: 'Unconsented Mail Reader',
  },
  /** Confidential web app (auth code with a secret), delegated consent like publicApp. */
  webApp: {
    clientId: 'b0770648-67cb-43f1-8529-9261f432c41a',
    displayName: 'Mail Reader (web app)',
    secret: 'Web8Q~Mn1b2v3c4x5z6l7k8j9h0g1f2d3s4a5q6w',
  },
} satisfies Record<string, AppFixture>;

/** Resource applications this cloud knows, by the URIs that name them. */
export type ResourceKey = 'exchange' | 'graph';

export const RESOURCE_URIS: Record<string, ResourceKey> = {
  'https://outlook.office.com': 'exchange',
  'https://outlook.office365.com': 'exchange',
  'https://graph.microsoft.com': 'graph',
};

/** Delegated scopes each resource exposes (canonical casing). */
export const RESOURCE_DELEGATED_SCOPES: Record<ResourceKey, string[]> = {
  exchange: ['IMAP.AccessAsUser.All', 'POP.AccessAsUser.All', 'SMTP.Send', 'EWS.AccessAsUser.All'],
  graph: ['User.Read', 'Mail.Read', 'Mail.ReadWrite', 'IMAP.AccessAsUser.All', 'POP.AccessAsUser.All', 'SMTP.Send'],
};

export interface Tenant {
  tenantId: string;
  displayName: string;
  domains: string[];
  kind: 'organization' | 'consumers';
}

export interface User {
  upn: string;
  oid: string;
  tenantId: string;
  displayName: string;
  password: string;
  /** Conditional Access demands MFA; the sign-in pages do it, refresh tokens without it get AADSTS50076. */
  mfaRequired: boolean;
  /** False for shared mailboxes (no interactive sign-in). */
  canSignIn: boolean;
  hasMailbox: boolean;
  /** Refresh tokens issued before this instant (ms) are revoked (Revoke-MgUserSignInSession). */
  refreshTokensValidFromMs: number;
}

export type SignInAudience = 'AzureADMyOrg' | 'AzureADMultipleOrgs' | 'AzureADandPersonalMicrosoftAccount';

export interface ClientSecret {
  value: string;
  expiresAtMs: number;
}

export interface ClientCertificate {
  /** base64url SHA-1 of the DER certificate, as in the JWT `x5t` header. */
  x5t: string;
  /** base64url SHA-256 of the DER certificate, as in the JWT `x5t#S256` header. */
  x5tS256: string;
  publicKey: KeyObject;
  notAfterMs: number;
}

export interface App {
  clientId: string;
  displayName: string;
  homeTenantId: string;
  signInAudience: SignInAudience;
  /** Object id of the app's service principal (the `oid` of app-only tokens). */
  servicePrincipalId: string;
  /** "Allow public client flows": requests without a client credential are accepted. */
  allowPublicClientFlows: boolean;
  secrets: ClientSecret[];
  certificates: ClientCertificate[];
  /** Exact redirect URIs; `loopback` additionally accepts any http://127.0.0.1:* or http://localhost:* URI. */
  redirectUris: string[];
  acceptLoopbackRedirects: boolean;
  /** Application permissions with admin consent, per resource. */
  roles: Map<ResourceKey, Set<string>>;
  /** Delegated permissions consented (tenant-wide), per resource. */
  consents: Map<ResourceKey, Set<string>>;
  /** New-ServicePrincipal in Exchange Online was run for this app. */
  exchangeServicePrincipal: boolean;
}

const DAY_MS = 86_400_000;

/** Tenants, users, apps and mailbox permissions of the test bed; mutable at runtime. */
export class Directory {
  readonly tenants = new Map<string, Tenant>();
  readonly users = new Map<string, User>();
  readonly apps = new Map<string, App>();
  /** principal (lower-cased UPN, client id or service principal id) → mailboxes (lower-cased). */
  private readonly mailboxAccess = new Map<string, Set<string>>();

  addTenant(tenant: Tenant): Tenant {
    this.tenants.set(tenant.tenantId, tenant);
    return tenant;
  }

  addUser(user: Omit<User, 'refreshTokensValidFromMs' | 'mfaRequired' | 'canSignIn' | 'hasMailbox' | 'password'>
    & Partial<User>): User {
    const full: User = {
      password: USER_PASSWORD, mfaRequired: false, canSignIn: true, hasMailbox: true, refreshTokensValidFromMs: 0, ...user,
    };
    this.users.set(full.upn.toLowerCase(), full);
    return full;
  }

  addApp(app: Partial<App> & Pick<App, 'clientId' | 'displayName' | 'homeTenantId' | 'servicePrincipalId'>): App {
    const full: App = {
      signInAudience: 'AzureADMyOrg', allowPublicClientFlows: false, secrets: [], certificates: [], redirectUris: [],
      acceptLoopbackRedirects: false, roles: new Map(), consents: new Map(), exchangeServicePrincipal: false, ...app,
    };
    this.apps.set(full.clientId.toLowerCase(), full);
    return full;
  }

  /** Resolves a tenant GUID or verified domain (case-insensitive); undefined when unknown. */
  findTenant(idOrDomain: string): Tenant | undefined {
    const wanted = idOrDomain.toLowerCase();
    for (const tenant of this.tenants.values()) {
      if (tenant.tenantId === wanted || tenant.domains.some((d) => d.toLowerCase() === wanted)) return tenant;
    }
    return undefined;
  }

  findUser(upn: string): User | undefined {
    return this.users.get(upn.trim().toLowerCase());
  }

  findUserByOid(oid: string): User | undefined {
    for (const user of this.users.values()) if (user.oid === oid) return user;
    return undefined;
  }

  findApp(clientId: string): App | undefined {
    return this.apps.get(clientId.trim().toLowerCase());
  }

  findAppByServicePrincipal(servicePrincipalId: string): App | undefined {
    for (const app of this.apps.values()) if (app.servicePrincipalId === servicePrincipalId) return app;
    return undefined;
  }

  private requireApp(clientId: string): App {
    const app = this.findApp(clientId);
    if (!app) throw new Error(`No app ${clientId} in the test directory`);
    return app;
  }

  private requireUser(upn: string): User {
    const user = this.findUser(upn);
    if (!user) throw new Error(`No user ${upn} in the test directory`);
    return user;
  }

  /** Registers a certificate credential (PEM) on an app; returns its thumbprints (hex and base64url). */
  registerCertificate(clientId: string, certPem: string): { thumbprintSha1: string; thumbprintSha256: string } {
    const app = this.requireApp(clientId);
    const cert = new X509Certificate(certPem);
    const sha1 = createHash('sha1').update(cert.raw).digest();
    const sha256 = createHash('sha256').update(cert.raw).digest();
    app.certificates.push({
      x5t: sha1.toString('base64url'),
      x5tS256: sha256.toString('base64url'),
      publicKey: cert.publicKey,
      notAfterMs: Date.parse(cert.validTo),
    });
    return { thumbprintSha1: sha1.toString('hex').toUpperCase(), thumbprintSha256: sha256.toString('hex').toUpperCase() };
  }

  /** Adds a client secret; `expiresAtMs` in the past makes it an expired secret (AADSTS7000222). */
  addSecret(clientId: string, value: string, expiresAtMs = Date.now() + 365 * DAY_MS): void {
    this.requireApp(clientId).secrets.push({ value, expiresAtMs });
  }

  /** Removes all client secrets of an app (e.g. to simulate a rotated secret). */
  removeSecrets(clientId: string): void {
    this.requireApp(clientId).secrets = [];
  }

  /** Grants tenant-wide delegated consent for `scopes` of a resource. */
  grantConsent(clientId: string, resource: ResourceKey, scopes: string[]): void {
    const app = this.requireApp(clientId);
    const set = app.consents.get(resource) ?? new Set<string>();
    for (const scope of scopes) set.add(scope);
    app.consents.set(resource, set);
  }

  /** Revokes delegated consent for one resource, or for all when `resource` is omitted. */
  revokeConsent(clientId: string, resource?: ResourceKey): void {
    const app = this.requireApp(clientId);
    if (resource) app.consents.delete(resource);
    else app.consents.clear();
  }

  /** Grants application permissions (app roles) with admin consent. */
  grantAppRoles(clientId: string, resource: ResourceKey, roles: string[]): void {
    const app = this.requireApp(clientId);
    const set = app.roles.get(resource) ?? new Set<string>();
    for (const role of roles) set.add(role);
    app.roles.set(resource, set);
  }

  revokeAppRoles(clientId: string, resource?: ResourceKey): void {
    const app = this.requireApp(clientId);
    if (resource) app.roles.delete(resource);
    else app.roles.clear();
  }

  /** Marks the app as registered in Exchange Online (New-ServicePrincipal). */
  registerExchangeServicePrincipal(clientId: string, registered = true): void {
    this.requireApp(clientId).exchangeServicePrincipal = registered;
  }

  /**
   * Add-MailboxPermission: `principal` (a UPN, an app's client id or its service principal id)
   * gets FullAccess to `mailbox`.
   */
  grantMailboxAccess(principal: string, mailbox: string): void {
    const key = this.principalKey(principal);
    const set = this.mailboxAccess.get(key) ?? new Set<string>();
    set.add(mailbox.toLowerCase());
    this.mailboxAccess.set(key, set);
  }

  revokeMailboxAccess(principal: string, mailbox: string): void {
    this.mailboxAccess.get(this.principalKey(principal))?.delete(mailbox.toLowerCase());
  }

  hasMailboxAccess(principal: string, mailbox: string): boolean {
    return this.mailboxAccess.get(this.principalKey(principal))?.has(mailbox.toLowerCase()) ?? false;
  }

  /** App principals are stored under their client id, so a grant by SP id and one by client id are the same. */
  private principalKey(principal: string): string {
    const lower = principal.trim().toLowerCase();
    return this.findAppByServicePrincipal(lower)?.clientId.toLowerCase() ?? lower;
  }

  /** Sets user flags such as `mfaRequired`. */
  setUserFlags(upn: string, flags: Partial<Pick<User, 'mfaRequired' | 'canSignIn' | 'password'>>): void {
    Object.assign(this.requireUser(upn), flags);
  }

  /** Revoke-MgUserSignInSession: every refresh token issued to the user so far stops working. */
  revokeSignInSessions(upn: string): void {
    this.requireUser(upn).refreshTokensValidFromMs = Date.now() + 1;
  }
}

/** The standard directory of the test bed (see the constants above). */
export function createDefaultDirectory(): Directory {
  const dir = new Directory();
  dir.addTenant({ tenantId: CONTOSO.tenantId, displayName: 'Contoso', domains: [...CONTOSO.domains], kind: 'organization' });
  dir.addTenant({ tenantId: FABRIKAM.tenantId, displayName: 'Fabrikam', domains: [...FABRIKAM.domains], kind: 'organization' });
  dir.addTenant({ tenantId: CONSUMERS_TENANT_ID, displayName: 'Microsoft Account', domains: [], kind: 'consumers' });

  dir.addUser({ upn: USERS.alice, oid: '46f75412-136f-4e4a-a6a4-dab4191e8da6', tenantId: CONTOSO.tenantId, displayName: 'Alice Adams' });
  dir.addUser({ upn: USERS.bob, oid: '95ca6470-4676-4f37-8437-a764f5dd1cf9', tenantId: CONTOSO.tenantId, displayName: 'Bob Brown' });
  dir.addUser({
    upn: USERS.support, oid: '24426b2a-75ea-4808-a521-6e4e114d2a70', tenantId: CONTOSO.tenantId,
    displayName: 'Contoso Support', canSignIn: false,
  });
  dir.addUser({ upn: USERS.carol, oid: '00000000-0000-0000-b545-0181c1692734', tenantId: CONSUMERS_TENANT_ID, displayName: 'Carol Clark' });
  dir.addUser({ upn: USERS.dave, oid: '3b6fe55d-fc07-4fbd-8d70-93d82d5931b6', tenantId: FABRIKAM.tenantId, displayName: 'Dave Davis' });

  const mailRoles = ['IMAP.AccessAsApp', 'POP.AccessAsApp'];
  const sendingRoles = [...mailRoles, 'SMTP.SendAsApp'];
  const year = Date.now() + 365 * DAY_MS;

  dir.addApp({
    clientId: APPS.daemon.clientId, displayName: APPS.daemon.displayName, homeTenantId: CONTOSO.tenantId,
    servicePrincipalId: '506de50c-2559-49fb-8e2b-2d3a9764d42f',
    secrets: [{ value: APPS.daemon.secret, expiresAtMs: year }, { value: APPS.daemon.expiredSecret, expiresAtMs: Date.now() - 30 * DAY_MS }],
    exchangeServicePrincipal: true,
  });
  dir.grantAppRoles(APPS.daemon.clientId, 'exchange', sendingRoles);
  dir.grantMailboxAccess(APPS.daemon.clientId, USERS.alice);
  dir.grantMailboxAccess(APPS.daemon.clientId, USERS.support);

  dir.addApp({
    clientId: APPS.daemonReader.clientId, displayName: APPS.daemonReader.displayName, homeTenantId: CONTOSO.tenantId,
    servicePrincipalId: 'f3d9a2b7-61c4-4e0a-8b5d-2e7f9c1a4d68',
    secrets: [{ value: APPS.daemonReader.secret, expiresAtMs: year }],
    exchangeServicePrincipal: true,
  });
  dir.grantAppRoles(APPS.daemonReader.clientId, 'exchange', mailRoles);
  dir.grantMailboxAccess(APPS.daemonReader.clientId, USERS.alice);
  dir.grantMailboxAccess(APPS.daemonReader.clientId, USERS.support);

  dir.addApp({
    clientId: APPS.daemonNoServicePrincipal.clientId, displayName: APPS.daemonNoServicePrincipal.displayName,
    homeTenantId: CONTOSO.tenantId, servicePrincipalId: 'c882871b-eead-4f08-a5c2-3c26147cde78',
    secrets: [{ value: APPS.daemonNoServicePrincipal.secret, expiresAtMs: year }],
  });
  dir.grantAppRoles(APPS.daemonNoServicePrincipal.clientId, 'exchange', mailRoles);

  dir.addApp({
    clientId: APPS.daemonNoRoles.clientId, displayName: APPS.daemonNoRoles.displayName, homeTenantId: CONTOSO.tenantId,
    servicePrincipalId: 'a9fa6a6a-797b-4539-8b68-b42056a423e5',
    secrets: [{ value: APPS.daemonNoRoles.secret, expiresAtMs: year }],
  });

  dir.addApp({
    clientId: APPS.certApp.clientId, displayName: APPS.certApp.displayName, homeTenantId: CONTOSO.tenantId,
    servicePrincipalId: '69928a4e-d24c-4512-82ea-69d21a7f5d8b', exchangeServicePrincipal: true,
  });
  dir.grantAppRoles(APPS.certApp.clientId, 'exchange', sendingRoles);
  dir.grantMailboxAccess(APPS.certApp.clientId, USERS.alice);
  dir.grantMailboxAccess(APPS.certApp.clientId, USERS.support);

  // Consent to SMTP.Send too: the account asks for it only when one of its nodes sends.
  const delegatedMail = ['IMAP.AccessAsUser.All', 'POP.AccessAsUser.All', 'SMTP.Send'];
  dir.addApp({
    clientId: APPS.publicApp.clientId, displayName: APPS.publicApp.displayName, homeTenantId: CONTOSO.tenantId,
    servicePrincipalId: '728e8f10-ed29-40e4-8f6a-77a2a249f9b0', signInAudience: 'AzureADandPersonalMicrosoftAccount',
    allowPublicClientFlows: true, acceptLoopbackRedirects: true,
  });
  dir.grantConsent(APPS.publicApp.clientId, 'exchange', delegatedMail);
  dir.grantConsent(APPS.publicApp.clientId, 'graph', ['User.Read', 'offline_access']);

  dir.addApp({
    clientId: APPS.publicDisabled.clientId, displayName: APPS.publicDisabled.displayName, homeTenantId: CONTOSO.tenantId,
    servicePrincipalId: '3fadea3b-781c-40d8-ad6b-ebce87a461aa', signInAudience: 'AzureADMultipleOrgs',
    acceptLoopbackRedirects: true, secrets: [{ value: APPS.publicDisabled.secret, expiresAtMs: year }],
  });
  dir.grantConsent(APPS.publicDisabled.clientId, 'exchange', delegatedMail);
  dir.grantConsent(APPS.publicDisabled.clientId, 'graph', ['User.Read', 'offline_access']);

  dir.addApp({
    clientId: APPS.noConsent.clientId, displayName: APPS.noConsent.displayName, homeTenantId: CONTOSO.tenantId,
    servicePrincipalId: '7c785da3-34bf-444c-86d3-5d35841593b1', signInAudience: 'AzureADMultipleOrgs',
    allowPublicClientFlows: true, acceptLoopbackRedirects: true,
  });

  dir.addApp({
    clientId: APPS.webApp.clientId, displayName: APPS.webApp.displayName, homeTenantId: CONTOSO.tenantId,
    servicePrincipalId: '97f66bb0-7f08-4c55-97fa-ee60f1259aa6', signInAudience: 'AzureADMultipleOrgs',
    acceptLoopbackRedirects: true, secrets: [{ value: APPS.webApp.secret, expiresAtMs: year }],
  });
  dir.grantConsent(APPS.webApp.clientId, 'exchange', delegatedMail);
  dir.grantConsent(APPS.webApp.clientId, 'graph', ['User.Read', 'offline_access']);

  dir.grantMailboxAccess(USERS.alice, USERS.support);
  return dir;
}
