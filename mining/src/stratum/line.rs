//! A bounded, cancel-safe line reader: never holds more than `max + 4 KiB` bytes.

use tokio::io::{AsyncRead, AsyncReadExt};

/// What reading a line gave.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum LineRead {
    /// A line without its `\n` (a trailing `\r` is left to the caller).
    Line(Vec<u8>),
    /// The line being read is over the limit.
    TooLong,
    /// The peer closed the connection (an unterminated last line is dropped).
    Eof,
}

pub(crate) struct LineReader<R> {
    inner: R,
    buf: Vec<u8>,
    /// Start of the current line in `buf`.
    start: usize,
    /// Bytes of `buf` from `start` already searched for `\n`.
    scanned: usize,
    max: usize,
}

impl<R: AsyncRead + Unpin> LineReader<R> {
    pub(crate) fn new(inner: R, max: usize) -> Self {
        LineReader {
            inner,
            buf: Vec::new(),
            start: 0,
            scanned: 0,
            max,
        }
    }

    /// The next line. Cancel-safe: bytes read are stored in `self` before any await, so a
    /// dropped call loses nothing.
    pub(crate) async fn next_line(&mut self) -> std::io::Result<LineRead> {
        loop {
            if let Some(pos) = self.buf[self.scanned..].iter().position(|b| *b == b'\n') {
                let end = self.scanned + pos;
                if end - self.start > self.max {
                    return Ok(LineRead::TooLong);
                }
                let line = self.buf[self.start..end].to_vec();
                self.start = end + 1;
                self.scanned = self.start;
                if self.start == self.buf.len() {
                    self.buf.clear();
                    self.start = 0;
                    self.scanned = 0;
                }
                return Ok(LineRead::Line(line));
            }
            self.scanned = self.buf.len();
            if self.buf.len() - self.start > self.max {
                return Ok(LineRead::TooLong);
            }
            if self.start > 0 {
                self.buf.drain(..self.start);
                self.scanned -= self.start;
                self.start = 0;
            }
            if self.buf.capacity() - self.buf.len() < 256 {
                self.buf.reserve_exact(1024);
            }
            let n = self.inner.read_buf(&mut self.buf).await?;
            if n == 0 {
                return Ok(LineRead::Eof);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lines_limits_and_eof() {
        let data: &[u8] = b"a\r\n\nbcd\nxyz";
        let mut r = LineReader::new(data, 8);
        assert_eq!(
            r.next_line().await.unwrap(),
            LineRead::Line(b"a\r".to_vec())
        );
        assert_eq!(r.next_line().await.unwrap(), LineRead::Line(vec![]));
        assert_eq!(
            r.next_line().await.unwrap(),
            LineRead::Line(b"bcd".to_vec())
        );
        assert_eq!(r.next_line().await.unwrap(), LineRead::Eof);

        let long = vec![b'x'; 10_000];
        let mut r = LineReader::new(&long[..], 100);
        assert_eq!(r.next_line().await.unwrap(), LineRead::TooLong);
        // Reads come in steps of at most ~1.3 KiB: the buffer never grows far past the limit.
        assert!(r.buf.len() <= 100 + 2048);

        let mut exact = vec![b'y'; 100];
        exact.push(b'\n');
        exact.extend_from_slice(&[b'z'; 101]);
        exact.push(b'\n');
        let mut r = LineReader::new(&exact[..], 100);
        assert_eq!(
            r.next_line().await.unwrap(),
            LineRead::Line(vec![b'y'; 100])
        );
        assert_eq!(r.next_line().await.unwrap(), LineRead::TooLong);
    }
}
