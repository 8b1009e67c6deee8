// Where an S3-compatible bucket is, from the one string an operator writes on the command line:
//   s3://BUCKET/PREFIX?endpoint=https://minio.example:9000&region=eu-west-1
// Invariant: a location never carries credentials. They come from the standard AWS variables
// (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), a profile (AWS_PROFILE) or the
// shared credentials file (AWS_SHARED_CREDENTIALS_FILE), read by the SDK's own provider chain:
// a secret typed on a command line ends up in shell history and in `ps` for every local user.
//
// [Note: Path-style addressing]
// Every S3-compatible server answers path-style requests (http://host/BUCKET/KEY); virtual-host
// style (http://BUCKET.host/KEY) needs a wildcard DNS name that MinIO, Ceph RGW and loopback
// test servers usually do not have. With a custom endpoint we therefore address by path;
// without one (AWS itself) the SDK's default applies.

/** A bucket and a key prefix on an S3-compatible server. */
export interface S3Location {
  readonly bucket: string;
  /** '' or a prefix ending in '/', under which every key of this vault lives */
  readonly prefix: string;
  /** the server's URL for anything but AWS itself; undefined means AWS */
  readonly endpoint: string | undefined;
  readonly region: string;
  /** See [Note: Path-style addressing] */
  readonly forcePathStyle: boolean;
}

/** A location that cannot be used, said in words an operator acts on. */
export class S3LocationError extends Error {
  override readonly name = 'S3LocationError';
}

const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const KNOWN_PARAMS = new Set(['endpoint', 'region']);

/** Reads `s3://BUCKET[/PREFIX][?endpoint=URL&region=NAME]`. Throws S3LocationError. */
export function parseS3Location(text: string): S3Location {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new S3LocationError(`"${text}" is not an s3:// address (s3://BUCKET/PREFIX?endpoint=…)`);
  }
  if (url.protocol !== 's3:') {
    throw new S3LocationError(`"${text}" is not an s3:// address (s3://BUCKET/PREFIX?endpoint=…)`);
  }
  if (url.username !== '' || url.password !== '') {
    throw new S3LocationError(
      'an s3:// address must not carry credentials: set AWS_ACCESS_KEY_ID and ' +
        'AWS_SECRET_ACCESS_KEY, or AWS_PROFILE / AWS_SHARED_CREDENTIALS_FILE, instead',
    );
  }
  const bucket = url.hostname;
  if (!BUCKET_NAME.test(bucket)) {
    throw new S3LocationError(
      `"${bucket}" is not a bucket name S3 accepts (3–63 lower-case letters, digits, dots, hyphens)`,
    );
  }
  for (const key of url.searchParams.keys()) {
    if (!KNOWN_PARAMS.has(key)) {
      throw new S3LocationError(`unknown option "${key}" in ${text} (known: endpoint, region)`);
    }
  }
  const endpoint = url.searchParams.get('endpoint') ?? undefined;
  if (endpoint !== undefined) {
    let parsed: URL;
    try {
      parsed = new URL(endpoint);
    } catch {
      throw new S3LocationError(`endpoint "${endpoint}" is not a URL (http://host:port)`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new S3LocationError(`endpoint "${endpoint}" must be an http:// or https:// URL`);
    }
  }
  // Checked on the text as written: URL parsing would quietly fold "a/../b" into "b".
  const written = text.slice('s3://'.length).split(/[?#]/)[0]!.split('/').slice(1);
  if (written.some((part) => ['.', '..'].includes(safeDecode(part)))) {
    throw new S3LocationError(`the prefix in "${text}" must not contain "." or ".." parts`);
  }
  const path = safeDecode(url.pathname).replace(/^\/+/, '').replace(/\/+$/, '');
  return {
    bucket,
    prefix: path === '' ? '' : `${path}/`,
    endpoint,
    // MinIO and most others accept any region name; AWS needs the bucket's own.
    region: url.searchParams.get('region') ?? process.env['AWS_REGION'] ?? 'us-east-1',
    forcePathStyle: endpoint !== undefined,
  };
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new S3LocationError(`"${text}" has a broken %-escape`);
  }
}
