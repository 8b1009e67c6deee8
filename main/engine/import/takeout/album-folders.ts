// Which folders of a Takeout export are albums. Pure.
// [Note: Takeout folders]
// | folder                                           | what it is                             |
// |--------------------------------------------------|----------------------------------------|
// | has metadata.json (or a localised name of it)    | an album, titled by its "title" (which |
// |                                                  |   may differ from the folder name)     |
// | "Photos from 2021" and localised forms           | the year's timeline: not an album      |
// |   ("Fotos von 2021", "Photos de 2021", ...)      |                                        |
// | Trash, Bin, Archive and localised forms          | not an album (trash is skipped)        |
// | any other folder holding media                   | an album titled by the folder name     |
// A photo in an album and in "Photos from 2023" is the same content: one asset, in the album.

const YEAR_FOLDER = new RegExp(
  '^(?:' +
    [
      'photos from', // en
      'fotos von', // de
      'photos de', // fr
      'fotos de', // es, pt
      'foto del', // it
      "foto's uit", // nl
      'fotos fra', // da, nb
      'foton från', // sv
      'zdjęcia z', // pl
      'fotky z roku', // cs
      'valokuvat vuodelta', // fi
      'fotók', // hu
      'фото за', // ru
    ].join('|') +
    ')\\s+\\d{4}$|^\\d{4}\\s*年の写真$|^\\d{4}\\s*年的照片$',
  'iu',
);

const TRASH_FOLDERS = new Set([
  'trash',
  'bin',
  'papierkorb',
  'corbeille',
  'papelera',
  'cestino',
  'prullenbak',
  'lixeira',
  'kosz',
  'papperskorg',
]);
const ARCHIVE_FOLDERS = new Set(['archive', 'archiv', 'archives', 'archivo', 'archivio']);

export type FolderRole = 'album' | 'year' | 'trash' | 'archive';

/** See [Note: Takeout folders]. `hasAlbumMetadata`: the folder holds a metadata.json. */
export function folderRole(name: string, hasAlbumMetadata: boolean): FolderRole {
  if (hasAlbumMetadata) return 'album';
  const n = name.normalize('NFC').trim();
  if (YEAR_FOLDER.test(n)) return 'year';
  const lower = n.toLowerCase();
  if (TRASH_FOLDERS.has(lower)) return 'trash';
  if (ARCHIVE_FOLDERS.has(lower)) return 'archive';
  return 'album';
}
