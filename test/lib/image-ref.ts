/**
 * How test helpers name images for skopeo, and how they reach the test registries.
 */

/** TLS trust and credentials for a registry. @public */
export interface RegistryAccess {
  /** certs.d-style dir with the CA (`ca.crt`). Without it, TLS is not verified and plain HTTP is allowed. */
  certDir?: string;
  /** Basic-auth credentials. */
  creds?: { user: string; password: string };
}

const TRANSPORTS = /^(docker|oci|oci-archive|docker-archive|dir|containers-storage|docker-daemon):/;

/**
 * skopeoRef: `ref` as a skopeo image reference. References with a transport prefix
 * (`docker://`, `oci:DIR:TAG`, `oci-archive:F`, `docker-archive:F`, `dir:D`) are kept;
 * a bare `HOST/repo:tag` means `docker://HOST/repo:tag`.
 * @public
 */
export function skopeoRef(ref: string): string {
  return TRANSPORTS.test(ref) ? ref : `docker://${ref}`;
}

/**
 * accessFor: the access to use for `ref` when the caller gave none: for the test suite's
 * TLS registry (`KILN_TEST_REGISTRY_TLS`), its CA dir and user/password from the
 * environment the global setup exports; otherwise nothing (plain HTTP, no auth).
 * @public
 */
export function accessFor(ref: string, given?: RegistryAccess): RegistryAccess {
  if (given) return given;
  const s = skopeoRef(ref);
  const tls = process.env.KILN_TEST_REGISTRY_TLS;
  if (tls && s.startsWith(`docker://${tls}/`)) {
    return {
      certDir: process.env.KILN_TEST_CERT_DIR,
      creds: process.env.KILN_TEST_USER
        ? { user: process.env.KILN_TEST_USER, password: process.env.KILN_TEST_PASSWORD ?? '' }
        : undefined,
    };
  }
  return {};
}

/**
 * skopeoAccessFlags: skopeo flags for reading (`src`), writing (`dest`) or, for
 * `skopeo inspect`, plain (`''`) access to `ref`. Only `docker://` references get any.
 * @public
 */
export function skopeoAccessFlags(ref: string, side: 'src' | 'dest' | '', access?: RegistryAccess): string[] {
  if (!skopeoRef(ref).startsWith('docker://')) return [];
  const a = accessFor(ref, access);
  const p = side ? `--${side}-` : '--';
  const flags = a.certDir ? [`${p}cert-dir`, a.certDir] : [`${p}tls-verify=false`];
  if (a.creds) flags.push(`${p}creds`, `${a.creds.user}:${a.creds.password}`);
  return flags;
}
