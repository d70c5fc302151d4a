//! A small ZIP writer (PKWARE APPNOTE 6.3): each file deflated (miniz_oxide) when that makes
//! it smaller, else stored; names in UTF-8 (flag bit 11), CRC-32 over each file's bytes, a
//! central directory and its end record.
//! Folders are entries whose name ends in `/` (so empty folders survive). Without ZIP64, so
//! at most 65,535 entries and 4 GiB, far above the workspace caps' defaults; past them
//! [`ZipWriter`] refuses (413) rather than write a broken archive.

use platform_core::ApiError;

/// A modification time in MS-DOS form, as ZIP headers carry it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DosTime {
    /// `hour << 11 | minute << 5 | second / 2`.
    pub time: u16,
    /// `(year - 1980) << 9 | month << 5 | day`.
    pub date: u16,
}

/// Unix mode bits in the high half of the external attributes (read by unzip and Python).
const FILE_ATTRIBUTES: u32 = 0o100_644 << 16;
/// A directory: Unix mode plus the MS-DOS directory bit.
const DIR_ATTRIBUTES: u32 = (0o040_755 << 16) | 0x10;
/// "Version made by": Unix (3), specification 2.0.
const MADE_BY: u16 = (3 << 8) | 20;
/// Version needed to extract stored and deflated entries and folders.
const NEEDED: u16 = 20;
/// Compression method 0: stored.
const STORED: u16 = 0;
/// Compression method 8: deflate.
const DEFLATED: u16 = 8;
/// miniz_oxide's level: 3 of 10 (greedy matching) gets most of the gain on source code at a
/// fraction of the time of the default 6, which matters inside the request time limit.
const LEVEL: u8 = 3;
/// General purpose flag: names are UTF-8.
const UTF8_NAMES: u16 = 1 << 11;

/// Builds an archive in memory, entry by entry.
#[derive(Default)]
pub struct ZipWriter {
    out: Vec<u8>,
    central: Vec<u8>,
    entries: usize,
}

fn too_large() -> ApiError {
    ApiError::PayloadTooLarge(
        "the workspace is too large for a ZIP archive without ZIP64 (65,535 entries, 4 GiB)".into(),
    )
}

fn u32_of(n: usize) -> Result<u32, ApiError> {
    u32::try_from(n).map_err(|_| too_large())
}

impl ZipWriter {
    pub fn new() -> ZipWriter {
        ZipWriter::default()
    }

    /// Adds folder `path` (without the trailing `/`).
    pub fn add_dir(&mut self, path: &str, time: DosTime) -> Result<(), ApiError> {
        self.add(&format!("{path}/"), &[], time, DIR_ATTRIBUTES)
    }

    /// Adds file `path` holding `data`.
    pub fn add_file(&mut self, path: &str, data: &[u8], time: DosTime) -> Result<(), ApiError> {
        self.add(path, data, time, FILE_ATTRIBUTES)
    }

    fn add(&mut self, name: &str, data: &[u8], time: DosTime, attrs: u32) -> Result<(), ApiError> {
        if self.entries >= usize::from(u16::MAX) {
            return Err(too_large());
        }
        let offset = u32_of(self.out.len())?;
        let size = u32_of(data.len())?;
        let name_len = u16::try_from(name.len()).map_err(|_| too_large())?;
        let crc = crc32fast::hash(data);
        let deflated = if data.is_empty() {
            None
        } else {
            Some(miniz_oxide::deflate::compress_to_vec(data, LEVEL))
                .filter(|d| d.len() < data.len())
        };
        let (method, stored) = match &deflated {
            Some(d) => (DEFLATED, d.as_slice()),
            None => (STORED, data),
        };
        let stored_size = u32_of(stored.len())?;

        let out = &mut self.out;
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        out.extend_from_slice(&NEEDED.to_le_bytes());
        out.extend_from_slice(&UTF8_NAMES.to_le_bytes());
        out.extend_from_slice(&method.to_le_bytes());
        out.extend_from_slice(&time.time.to_le_bytes());
        out.extend_from_slice(&time.date.to_le_bytes());
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(&stored_size.to_le_bytes()); // compressed
        out.extend_from_slice(&size.to_le_bytes()); // uncompressed
        out.extend_from_slice(&name_len.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes()); // extra field
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(stored);
        u32_of(out.len())?;

        let c = &mut self.central;
        c.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        c.extend_from_slice(&MADE_BY.to_le_bytes());
        c.extend_from_slice(&NEEDED.to_le_bytes());
        c.extend_from_slice(&UTF8_NAMES.to_le_bytes());
        c.extend_from_slice(&method.to_le_bytes());
        c.extend_from_slice(&time.time.to_le_bytes());
        c.extend_from_slice(&time.date.to_le_bytes());
        c.extend_from_slice(&crc.to_le_bytes());
        c.extend_from_slice(&stored_size.to_le_bytes());
        c.extend_from_slice(&size.to_le_bytes());
        c.extend_from_slice(&name_len.to_le_bytes());
        c.extend_from_slice(&0u16.to_le_bytes()); // extra field
        c.extend_from_slice(&0u16.to_le_bytes()); // comment
        c.extend_from_slice(&0u16.to_le_bytes()); // disk number
        c.extend_from_slice(&0u16.to_le_bytes()); // internal attributes
        c.extend_from_slice(&attrs.to_le_bytes());
        c.extend_from_slice(&offset.to_le_bytes());
        c.extend_from_slice(name.as_bytes());
        self.entries += 1;
        Ok(())
    }

    /// The archive: entries, central directory, end record.
    pub fn finish(mut self) -> Result<Vec<u8>, ApiError> {
        let directory_offset = u32_of(self.out.len())?;
        let directory_size = u32_of(self.central.len())?;
        u32_of(self.out.len() + self.central.len())?;
        let entries = u16::try_from(self.entries).map_err(|_| too_large())?;
        self.out.append(&mut self.central);
        let out = &mut self.out;
        out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes()); // this disk
        out.extend_from_slice(&0u16.to_le_bytes()); // disk of the directory
        out.extend_from_slice(&entries.to_le_bytes());
        out.extend_from_slice(&entries.to_le_bytes());
        out.extend_from_slice(&directory_size.to_le_bytes());
        out.extend_from_slice(&directory_offset.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes()); // comment
        Ok(self.out)
    }
}
