/**
 * The flags of `kiln build`, named as kaniko's executor names them so a migration is a find-and-replace.
 * One table drives parsing, `--help`, and the check that every flag reaches the build options.
 */
export interface FlagSpec {
  name: string;
  short?: string;
  /** 'bool' flags also accept `--flag=true|false`, as kaniko's pflag does. */
  kind: 'bool' | 'string' | 'list';
  help: string;
  /** Older spellings kaniko still accepts. */
  aliases?: string[];
  /** Accepted for compatibility; kiln prints this note instead of acting on the flag. */
  ignoredNote?: string;
}

export const BUILD_FLAGS: FlagSpec[] = [
  {
    name: 'dockerfile',
    short: 'f',
    kind: 'string',
    help: 'Path of the Dockerfile (absolute, or relative to the context). Default: Dockerfile',
  },
  {
    name: 'context',
    short: 'c',
    kind: 'string',
    help: 'Build context: a directory, dir://, tar://file.tar.gz, tar://stdin, https:// tarball or git:// URL',
  },
  { name: 'context-sub-path', kind: 'string', help: 'Sub-directory of the context to use as the context' },
  {
    name: 'destination',
    short: 'd',
    kind: 'list',
    help: 'Image reference to push (repeatable); oci:<dir>[:tag] and docker-archive:<file>[:tag] also work',
  },
  {
    name: 'build-arg',
    kind: 'list',
    help: 'Build argument K=V (repeatable); a bare K takes its value from the environment',
  },
  { name: 'target', kind: 'string', help: 'Stage to build (default: the last one)' },
  { name: 'label', kind: 'list', help: 'Label K=V to add to the image (repeatable)' },
  { name: 'no-push', kind: 'bool', help: 'Build but push nothing' },
  {
    name: 'tar-path',
    kind: 'string',
    help: 'Also write the image as a docker-archive tarball (tags from --destination)',
    aliases: ['tarPath'],
  },
  {
    name: 'oci-layout-path',
    kind: 'string',
    help: 'Also write the image into an OCI image layout directory',
  },
  { name: 'digest-file', kind: 'string', help: 'Write the image digest to this file' },
  {
    name: 'image-name-with-digest-file',
    kind: 'string',
    help: 'Write name@digest lines, one per destination, to this file',
  },
  {
    name: 'image-name-tag-with-digest-file',
    kind: 'string',
    help: 'Write name:tag@digest lines, one per destination, to this file',
  },
  { name: 'insecure', kind: 'bool', help: 'Push to registries over plain HTTP' },
  { name: 'insecure-pull', kind: 'bool', help: 'Pull from registries over plain HTTP' },
  {
    name: 'insecure-registry',
    kind: 'list',
    help: 'Registry (host[:port]) to reach over plain HTTP (repeatable)',
  },
  { name: 'skip-tls-verify', kind: 'bool', help: 'Do not verify TLS certificates when pushing' },
  { name: 'skip-tls-verify-pull', kind: 'bool', help: 'Do not verify TLS certificates when pulling' },
  {
    name: 'skip-tls-verify-registry',
    kind: 'list',
    help: 'Registry whose TLS certificate is not verified (repeatable)',
  },
  {
    name: 'registry-certificate',
    kind: 'list',
    help: 'registry=path/to/ca.crt: a CA bundle for one registry (repeatable)',
  },
  {
    name: 'registry-client-cert',
    kind: 'list',
    help: 'registry=cert.pem,key.pem: a client certificate for one registry (repeatable)',
  },
  {
    name: 'registry-mirror',
    kind: 'list',
    help: 'Mirror for Docker Hub pulls, tried before docker.io (repeatable)',
  },
  {
    name: 'registry-map',
    kind: 'list',
    help: 'orig=mirror[;orig2=mirror2]: pull from a mirror instead of a registry (repeatable)',
  },
  {
    name: 'custom-platform',
    kind: 'string',
    help: 'Platform os/arch[/variant] of the image (no emulation)',
    aliases: ['customPlatform'],
  },
  { name: 'reproducible', kind: 'bool', help: 'Strip timestamps: the same inputs give the same digest' },
  {
    name: 'secret',
    kind: 'list',
    help: 'Build secret for RUN --mount=type=secret: id=NAME,src=FILE or id=NAME,env=VAR (repeatable)',
  },
  {
    name: 'ssh',
    kind: 'list',
    help: 'SSH agent for RUN --mount=type=ssh: ID=SOCKET, ID=KEYFILE[,KEYFILE…], or ID alone for $SSH_AUTH_SOCK (repeatable; id "default" unless the mount names one)',
  },
  {
    name: 'ignore-path',
    kind: 'list',
    help: 'Image path whose changes RUN snapshots leave out (repeatable); with --in-place also never unpacked over or deleted',
  },
  {
    name: 'in-place',
    kind: 'bool',
    help: "kaniko mode: unpack each stage over this machine's / and run RUN there; only in a disposable container (also KILN_IN_PLACE=1)",
  },
  {
    name: 'verbosity',
    short: 'v',
    kind: 'string',
    help: 'Log level: panic|fatal|error|warn|info|debug|trace (default info)',
  },
  {
    name: 'log-format',
    kind: 'string',
    help: 'Progress format: color|text|json (default color on a TTY, text otherwise)',
  },
  { name: 'log-timestamp', kind: 'bool', help: 'Prefix log lines with a timestamp' },
  {
    name: 'push-retry',
    kind: 'string',
    help: 'Extra attempts for a failed push (default 0; transient errors are always retried a few times)',
  },
  {
    name: 'skip-unused-stages',
    kind: 'bool',
    help: 'Build only the stages the target needs (kiln always does)',
  },
  {
    name: 'cache',
    kind: 'bool',
    help: 'Layer cache',
    ignoredNote: 'the layer cache is not implemented yet; building without it',
  },
  {
    name: 'cache-repo',
    kind: 'string',
    help: 'Layer cache repository',
    ignoredNote: 'the layer cache is not implemented yet',
  },
  {
    name: 'cache-dir',
    kind: 'string',
    help: 'Base image cache directory',
    ignoredNote: 'the base image cache is not implemented yet',
  },
  {
    name: 'cache-ttl',
    kind: 'string',
    help: 'Layer cache lifetime',
    ignoredNote: 'the layer cache is not implemented yet',
  },
  {
    name: 'snapshot-mode',
    kind: 'string',
    help: 'kaniko snapshot mode',
    ignoredNote: 'kiln picks its snapshot method itself',
    aliases: ['snapshotMode'],
  },
  {
    name: 'use-new-run',
    kind: 'bool',
    help: 'kaniko RUN implementation switch',
    ignoredNote: 'kiln has one RUN implementation',
  },
  {
    name: 'cleanup',
    kind: 'bool',
    help: 'kaniko in-place cleanup',
    ignoredNote:
      'kiln leaves no rootfs behind, except with --in-place, where / keeps the last stage that ran',
  },
  {
    name: 'force',
    kind: 'bool',
    help: 'kaniko container check override',
    ignoredNote: 'kiln does not need it',
  },
];
