//! The HTTP client every role uses on loopback: hyper-util's pooled client over plain TCP
//! (keep-alive, no TLS, no OpenSSL; nothing leaves 127.0.0.1).

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

pub fn new_client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}
