// Android motion photos made from corpus files (the corpus has none): a JPEG with an MP4
// appended after it, then the XMP a phone writes, written by the real exiftool. Newer phones
// (Pixel 6 on) write GCamera MotionPhoto with a Container directory (each part's Length);
// older ones MicroVideo with MicroVideoOffset (the video's length up to the end of the file).
// exiftool keeps what follows the JPEG when it rewrites the XMP, so the video stays the
// file's last bytes; make() checks that, so a test never starts from a file it did not mean.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { ExifTool } from 'exiftool-vendored';

export type MotionPhotoXmp =
  /** GCamera MotionPhoto=1 + Container directory: Primary, then the MotionPhoto video */
  | 'motion-photo'
  /** GCamera MicroVideo=1 + MicroVideoOffset */
  | 'micro-video'
  /** MicroVideo whose offset points into the JPEG: no video begins there */
  | 'micro-video-lying';

/**
 * Writes `still` + `video` to `to` with the XMP of `xmp`. Answers the video's bytes as they
 * are at the end of the made file.
 */
export async function makeMotionPhoto(
  exiftool: ExifTool,
  to: string,
  still: string,
  video: string,
  xmp: MotionPhotoXmp,
): Promise<Buffer> {
  const mp4 = await readFile(video);
  await writeFile(to, Buffer.concat([await readFile(still), mp4]));
  // The video's place counted back from the end is its length: writing the XMP grows the
  // JPEG in front of it, not the distance from its start to the end of the file.
  const fromEnd = xmp === 'micro-video-lying' ? mp4.length + 1000 : mp4.length;
  const tags =
    xmp === 'motion-photo'
      ? [
          '-XMP-GCamera:MotionPhoto=1',
          '-XMP-GCamera:MotionPhotoVersion=1',
          '-XMP-GCamera:MotionPhotoPresentationTimestampUs=0',
          `-XMP-GContainer:ContainerDirectory=[{Item={Mime=image/jpeg,Semantic=Primary,Length=0,Padding=0}},{Item={Mime=video/mp4,Semantic=MotionPhoto,Length=${mp4.length},Padding=0}}]`,
        ]
      : [
          '-XMP-GCamera:MicroVideo=1',
          '-XMP-GCamera:MicroVideoVersion=1',
          `-XMP-GCamera:MicroVideoOffset=${fromEnd}`,
        ];
  await exiftool.write(to, {}, { writeArgs: ['-overwrite_original', ...tags] });
  const made = await readFile(to);
  assert.ok(made.length > mp4.length + 1000, 'the JPEG is still in front of the video');
  assert.ok(
    made.subarray(made.length - mp4.length).equals(mp4),
    'exiftool kept the appended video as the last bytes of the file',
  );
  const written = await exiftool.read(to);
  if (xmp === 'motion-photo') assert.equal(written.MotionPhoto, 1, 'the XMP was written');
  else assert.equal(written.MicroVideo, 1, 'the XMP was written');
  return mp4;
}
