//! A client of the control protocol (`mynasim ctl`, tests, the bench's watcher).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use super::protocol::{Event, Hello, Reply, Request, VERSION};

/// Why a control request failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing answers at the socket.
    #[error("cannot connect to the control socket {path}: {source}; is `mynasim serve` running?")]
    Connect {
        /// The socket.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Something answers, but not a mynasim control server of this version.
    #[error("{path} is not a mynasim control socket of protocol version {VERSION}: {why}")]
    NotAServer {
        /// The socket.
        path: PathBuf,
        /// What was wrong with its first line.
        why: String,
    },
    /// The connection broke.
    #[error("the control connection broke: {0}")]
    Io(#[from] std::io::Error),
    /// The server refused the request; its reason.
    #[error("{0}")]
    Refused(String),
    /// A line that is not the protocol's.
    #[error("unexpected line from the server: {0}")]
    BadLine(String),
}

/// A connection to a control server.
pub struct ControlClient {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    hello: Hello,
    next_id: u64,
}

impl ControlClient {
    /// Connects and reads the server's hello.
    pub fn connect(path: &Path) -> Result<ControlClient, ClientError> {
        let stream = UnixStream::connect(path).map_err(|source| ClientError::Connect { path: path.to_path_buf(), source })?;
        let writer = stream.try_clone()?;
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let not_a_server = |why: String| ClientError::NotAServer { path: path.to_path_buf(), why };
        let hello: Hello = serde_json::from_str(&line).map_err(|e| not_a_server(format!("{e} in {:?}", line.trim())))?;
        if hello.mynasim_control != VERSION {
            return Err(not_a_server(format!("it speaks version {}", hello.mynasim_control)));
        }
        Ok(ControlClient { reader, writer, hello, next_id: 1 })
    }

    /// The server's hello (its pid, version and cards).
    pub fn hello(&self) -> &Hello {
        &self.hello
    }

    /// Sends one request and waits for its reply's result.
    pub fn request(&mut self, request: &Request) -> Result<serde_json::Value, ClientError> {
        let id = self.next_id;
        self.next_id += 1;
        let mut object = serde_json::to_value(request).map_err(|e| ClientError::BadLine(e.to_string()))?;
        if let Some(map) = object.as_object_mut() {
            map.insert("id".into(), id.into());
        }
        let mut line = serde_json::to_vec(&object).map_err(|e| ClientError::BadLine(e.to_string()))?;
        line.push(b'\n');
        self.writer.write_all(&line)?;
        let reply: Reply = self.read_line()?;
        if reply.id != Some(id.into()) {
            return Err(ClientError::BadLine(format!("a reply to request {:?}, not {id}", reply.id)));
        }
        match (reply.ok, reply.result, reply.error) {
            (true, result, _) => Ok(result.unwrap_or(serde_json::Value::Null)),
            (false, _, error) => Err(ClientError::Refused(error.unwrap_or_else(|| "refused without a reason".into()))),
        }
    }

    /// Sends `request` and reads its result as `T`.
    pub fn call<T: serde::de::DeserializeOwned>(&mut self, request: &Request) -> Result<T, ClientError> {
        serde_json::from_value(self.request(request)?).map_err(|e| ClientError::BadLine(e.to_string()))
    }

    /// Turns the connection into the event stream.
    pub fn watch(mut self) -> Result<EventStream, ClientError> {
        self.request(&Request::Watch)?;
        Ok(EventStream { reader: self.reader, _writer: self.writer })
    }

    fn read_line<T: serde::de::DeserializeOwned>(&mut self) -> Result<T, ClientError> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(ClientError::Io(std::io::ErrorKind::UnexpectedEof.into()));
        }
        serde_json::from_str(&line).map_err(|e| ClientError::BadLine(format!("{e}: {}", line.trim())))
    }
}

/// The events of a watching connection; ends when the server goes.
pub struct EventStream {
    reader: BufReader<UnixStream>,
    /// Kept open: closing it ends the stream server-side.
    _writer: UnixStream,
}

impl EventStream {
    /// The next event line as sent (JSON), `None` at the end.
    pub fn next_line(&mut self) -> Result<Option<String>, ClientError> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        Ok(Some(line.trim_end().to_owned()))
    }

    /// The next event, `None` at the end.
    pub fn next_event(&mut self) -> Result<Option<Event>, ClientError> {
        match self.next_line()? {
            None => Ok(None),
            Some(line) => serde_json::from_str(&line).map(Some).map_err(|e| ClientError::BadLine(format!("{e}: {line}"))),
        }
    }

    /// The underlying socket (to set a read timeout).
    pub fn socket(&self) -> &UnixStream {
        self.reader.get_ref()
    }
}
