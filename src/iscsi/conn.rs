//! One TCP connection to a portal, with the timeouts that turn a
//! stalled target into an error, and the digests and receive limit in
//! force (none and 8192 bytes until login negotiates them, RFC 7143
//! §13.12).

use std::io::{BufWriter, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use super::pdu::{self, Bhs, Digests, Pdu, PduError};
use super::{Error, Result};

/// The MaxRecvDataSegmentLength in force before login negotiates one
/// (RFC 7143 §13.12 default).
pub(crate) const DEFAULT_MAX_RECV: u32 = 8192;

/// A connection to one portal.
pub(crate) struct Conn {
    reader: TcpStream,
    writer: BufWriter<TcpStream>,
    /// `host:port`, for messages.
    pub(crate) portal: String,
    /// Digests in force.
    pub(crate) digests: Digests,
    /// The largest data segment accepted from the target.
    pub(crate) max_recv: u32,
    timeout_secs: u64,
}

impl Conn {
    /// Connect to `host:port`, trying each address it resolves to.
    pub(crate) fn connect(
        host: &str,
        port: u16,
        connect_timeout: Duration,
        io_timeout: Duration,
    ) -> Result<Conn> {
        let portal = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let addrs: Vec<_> = (host, port)
            .to_socket_addrs()
            .map_err(|source| Error::Resolve {
                portal: portal.clone(),
                source,
            })?
            .collect();
        let mut last = None;
        let mut stream = None;
        for a in &addrs {
            match TcpStream::connect_timeout(a, connect_timeout) {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        let stream = stream.ok_or_else(|| Error::Connect {
            portal: portal.clone(),
            source: last.unwrap_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "the host has no address",
                )
            }),
        })?;
        let socket = |source| Error::Socket {
            portal: portal.clone(),
            source,
        };
        stream.set_nodelay(true).map_err(socket)?;
        stream.set_read_timeout(Some(io_timeout)).map_err(socket)?;
        stream.set_write_timeout(Some(io_timeout)).map_err(socket)?;
        let reader = stream.try_clone().map_err(socket)?;
        Ok(Conn {
            reader,
            writer: BufWriter::with_capacity(64 * 1024, stream),
            portal,
            digests: Digests::default(),
            max_recv: DEFAULT_MAX_RECV,
            timeout_secs: io_timeout.as_secs(),
        })
    }

    /// Queue one PDU (sent at the next [`Conn::flush`] or when the
    /// buffer fills).
    pub(crate) fn send(
        &mut self,
        bhs: &Bhs,
        data: &[u8],
    ) -> std::result::Result<(), PduError> {
        pdu::write_pdu(&mut self.writer, bhs, data, self.digests)
    }

    /// Send everything queued.
    pub(crate) fn flush(&mut self) -> std::result::Result<(), PduError> {
        self.writer.flush().map_err(|source| PduError::Io {
            what: "sending PDUs",
            source,
        })
    }

    /// Flush, then read one PDU.
    pub(crate) fn recv(&mut self) -> std::result::Result<Pdu, PduError> {
        self.flush()?;
        pdu::read_pdu(
            &mut self.reader,
            self.max_recv,
            self.digests,
            self.timeout_secs,
        )
    }

    /// The same as an [`Error::Pdu`] of this portal.
    pub(crate) fn err(&self, source: PduError) -> Error {
        Error::Pdu {
            portal: self.portal.clone(),
            source,
        }
    }

    /// Close both directions (errors ignored: the peer may be gone).
    pub(crate) fn shutdown(&mut self) {
        let _ = self.writer.flush();
        let _ = self.reader.shutdown(std::net::Shutdown::Both);
    }
}
