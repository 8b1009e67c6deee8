// What Keepsake reads from a photo or video with exiftool. See [Note: Capture time and time
// zones] in capture-time.ts for the policy that fills captureTime and timeZone.

export type CaptureTimeSource =
  | 'exif_original' // DateTimeOriginal (+ SubSecTimeOriginal)
  | 'exif_create' // CreateDate / DateTimeDigitized
  | 'quicktime' // QuickTime CreateDate (UTC by spec)
  | 'gps' // GPSDateStamp + GPSTimeStamp (UTC)
  | 'filename' // e.g. IMG_20190312_101112.jpg
  | 'mtime'; // the file's modification time, last resort

export type TimeZoneSource =
  | 'offset_time_original'
  | 'offset_time'
  | 'quicktime_tz' // a zone carried by the QuickTime date itself
  | 'gps' // derived from the GPS position / GPS UTC time
  | 'utc' // the source is UTC by definition (QuickTime, GPS)
  | 'assumed_local'; // the machine's zone: recorded as an assumption

/** The wire format sent to PUT /api/v1/assets/:sha256/metadata (the vault validates it). */
export interface MediaMetadata {
  /** ISO 8601 with offset, e.g. 2019-03-12T10:11:12.345+01:00; null when nothing usable. */
  captureTime: string | null;
  captureTimeSource: CaptureTimeSource | null;
  timeZone: { offsetMinutes: number; source: TimeZoneSource } | null;
  gps: { lat: number; lon: number; alt?: number } | null;
  camera: { make?: string; model?: string; lens?: string } | null;
  width: number | null;
  height: number | null;
  durationSec: number | null;
  /** EXIF orientation 1..8 */
  orientation: number | null;
  mime: string | null;
  /** Set by the engine: the path the file had on the device it was backed up from. */
  originalPath?: string;
  /** Set by the engine: the host name of the device. */
  device?: string;
}

export interface MetadataProblem {
  /** Words a person understands, e.g. "The EXIF block is corrupt; dates were taken from the file's modification time". */
  message: string;
}

export interface MetadataReadResult {
  metadata: MediaMetadata;
  /** Problems never stop a backup; they are recorded and shown. */
  problems: MetadataProblem[];
  /** The raw tags exiftool returned, for the files.metadata JSON column (bounded in size). */
  raw: Record<string, unknown>;
}

export interface MetadataReader {
  /** Reads one file; never rejects for bad metadata (problems instead), only on abort. */
  read(path: string, fallbackMtimeMs: number, signal?: AbortSignal): Promise<MetadataReadResult>;
  /** Reads in flight that keep every exiftool process busy with full batches (a hint). */
  readonly wantsInFlight?: number;
  close(): Promise<void>;
}
