// The --blobs s3:// address an operator writes: read into bucket, prefix, endpoint and region,
// or refused with a sentence that says what to write instead. Credentials never ride in it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseS3Location, S3LocationError } from '../../../server/blobs/s3-location.js';

describe("s3:// addresses for the vault's blobs", () => {
  it('reads bucket, prefix, endpoint and region, and addresses a custom endpoint by path', () => {
    assert.deepEqual(
      parseS3Location(
        's3://photos/keepsake/vault1?endpoint=http://127.0.0.1:9000&region=eu-west-1',
      ),
      {
        bucket: 'photos',
        prefix: 'keepsake/vault1/',
        endpoint: 'http://127.0.0.1:9000',
        region: 'eu-west-1',
        forcePathStyle: true,
      },
    );
  });

  it('takes a bucket without a prefix, and AWS itself when no endpoint is given', () => {
    const location = parseS3Location('s3://photos?region=us-west-2');
    assert.equal(location.prefix, '');
    assert.equal(location.endpoint, undefined);
    assert.equal(location.forcePathStyle, false);
  });

  const refused: [string, RegExp][] = [
    ['s3://AKIA:secret@photos/x', /must not carry credentials.*AWS_ACCESS_KEY_ID/],
    ['https://photos/x', /not an s3:\/\/ address/],
    ['photos/x', /not an s3:\/\/ address/],
    ['s3://Photos_Bucket/x', /not a bucket name/],
    ['s3://photos/x?endpoint=ftp://host', /http:\/\/ or https:\/\//],
    ['s3://photos/x?endpoint=not a url', /not a URL/],
    ['s3://photos/x?secret=1', /unknown option "secret"/],
    ['s3://photos/a/../b', /must not contain/],
  ];
  for (const [text, why] of refused) {
    it(`refuses ${text} and says why`, () => {
      assert.throws(
        () => parseS3Location(text),
        (err: unknown) => err instanceof S3LocationError && why.test(err.message),
      );
    });
  }
});
