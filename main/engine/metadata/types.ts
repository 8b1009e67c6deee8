// What Keepsake reads from a photo or video with exiftool. See [Note: Capture time and time
// zones] in capture-time.ts for the policy that fills captureTime and timeZone.

// The record itself is the vault's wire format: one schema in common/vault-protocol.ts, the
// type inferred from it (no hand-kept copy here).
import type { MediaMetadata } from '../../../common/vault-protocol.js';
export type {
  CaptureTimeSource,
  MediaMetadata,
  TimeZoneSource,
} from '../../../common/vault-protocol.js';

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
  /** What grouping compares (See [Note: Grouping rules] in grouping.ts); absent = nothing. */
  grouping?: GroupingFacts;
}

export interface GroupingFacts {
  /** Apple's content identifier, upper-case (a Live Photo's still and video share it). */
  appleContentId: string | null;
  /** The capture instant the file itself states (EXIF, QuickTime, GPS), unix ms; else null. */
  capturedAtMs: number | null;
  /**
   * The files an export's XMP says it was made from (Lightroom's crs:RawFileName, xmpMM:
   * DerivedFrom or its stRef:filePath, PreservedFileName), lower-case base names; [] = none.
   */
  derivedFrom: string[];
}

export interface MetadataReader {
  /**
   * Reads one file; never rejects for bad metadata (problems instead), only on abort. With
   * `xmpSidecar` (the path of its .xmp), what the sidecar adds is merged in: See [Note: XMP
   * sidecar precedence] in sidecar-merge.ts.
   */
  read(
    path: string,
    fallbackMtimeMs: number,
    signal?: AbortSignal,
    options?: { xmpSidecar?: string },
  ): Promise<MetadataReadResult>;
  /** Reads in flight that keep every exiftool process busy with full batches (a hint). */
  readonly wantsInFlight?: number;
  /**
   * Whether the rest of the engine is busy (hashing, uploading): the reader then leaves it a
   * core; idle, it may use every core. See [Note: exiftool processes] in metadata-reader.ts.
   */
  setEngineBusy?(busy: boolean): void;
  close(): Promise<void>;
}
