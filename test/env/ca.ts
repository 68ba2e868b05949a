/**
 * A throw-away certificate authority for the test bed: one CA and one server certificate for
 * 127.0.0.1, 127.0.0.2 and localhost, made with the openssl CLI. Dovecot, the identity server and
 * every client trust the same CA. Node reads NODE_EXTRA_CA_CERTS only at process start, so the test
 * runner creates the CA first and passes its path to the processes it starts.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export interface TestCa {
  dir: string;
  caCertFile: string;
  caCertPem: string;
  serverCertFile: string;
  serverKeyFile: string;
  serverCertPem: string;
  serverKeyPem: string;
}

export const DEFAULT_CA_DIR = path.resolve(__dirname, '../../.cache/testbed-ca');

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Creates the CA and server certificate in `dir` unless they are already there; returns paths and PEMs. */
export function ensureTestCa(dir: string = process.env.M365_TESTBED_CA_DIR ?? DEFAULT_CA_DIR): TestCa {
  mkdirSync(dir, { recursive: true });
  const files = {
    caKey: path.join(dir, 'ca.key'),
    caCert: path.join(dir, 'ca.pem'),
    serverKey: path.join(dir, 'server.key'),
    serverCsr: path.join(dir, 'server.csr'),
    serverCert: path.join(dir, 'server.pem'),
    ext: path.join(dir, 'server.ext'),
  };
  if (!existsSync(files.serverCert)) {
    openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', files.caKey, '-out', files.caCert,
      '-days', '3650', '-subj', '/CN=m365-mail test bed CA', '-addext', 'basicConstraints=critical,CA:TRUE',
      '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
    openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', files.serverKey, '-out', files.serverCsr,
      '-subj', '/CN=127.0.0.1'], dir);
    writeFileSync(files.ext, [
      'basicConstraints=CA:FALSE',
      'keyUsage=digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth',
      'subjectAltName=IP:127.0.0.1,IP:127.0.0.2,DNS:localhost',
      '',
    ].join('\n'));
    openssl(['x509', '-req', '-in', files.serverCsr, '-CA', files.caCert, '-CAkey', files.caKey, '-CAcreateserial',
      '-out', files.serverCert, '-days', '3650', '-extfile', files.ext], dir);
  }
  return {
    dir,
    caCertFile: files.caCert,
    caCertPem: readFileSync(files.caCert, 'utf8'),
    serverCertFile: files.serverCert,
    serverKeyFile: files.serverKey,
    serverCertPem: readFileSync(files.serverCert, 'utf8'),
    serverKeyPem: readFileSync(files.serverKey, 'utf8'),
  };
}

// `tsx test/env/ca.ts` prints the CA file path, for NODE_EXTRA_CA_CERTS=$(...).
if (require.main === module) {
  process.stdout.write(ensureTestCa().caCertFile + '\n');
}
