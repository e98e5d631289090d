//! Calling any method of the internal plane, for the tests that try every
//! method with every identity: the methods come from the compiled
//! descriptor set (what the servers actually serve), and an answer is told
//! apart as the guard's refusal or the handler's own.

use gatehouse_runtime::access::{Refusal, refusal_of};
use prost::Message as _;

/// Every `(path, server-streaming)` of Gatehouse's own services.
pub fn methods() -> Vec<(String, bool)> {
    let set = prost_types::FileDescriptorSet::decode(gatehouse_proto::pb::FILE_DESCRIPTOR_SET)
        .expect("the compiled descriptor set decodes");
    let mut methods = Vec::new();
    for file in set.file.iter().filter(|f| f.package().starts_with("gatehouse.")) {
        for service in &file.service {
            for method in &service.method {
                let path = format!("/{}.{}/{}", file.package(), service.name(), method.name());
                methods.push((path, method.server_streaming()));
            }
        }
    }
    methods
}

/// What the plane answered a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// The guard: no identity.
    Unidentified,
    /// The guard: this role may not.
    Denied,
    /// No such method.
    Unimplemented,
    /// No connection (a TLS handshake the server refused surfaces as a broken one).
    NoConnection,
    /// The handler ran (and answered whatever it answers an empty request).
    Handled,
}

/// Calls `path` with an empty request over `service` (a channel, with or
/// without a credential presented on it).
pub async fn call<S>(service: S, path: &str, streaming: bool) -> Answer
where
    S: tonic::client::GrpcService<tonic::body::Body>,
    S::ResponseBody: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    <S::ResponseBody as http_body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send,
{
    let mut grpc = tonic::client::Grpc::new(service);
    if grpc.ready().await.is_err() {
        return Answer::NoConnection;
    }
    let codec = tonic_prost::ProstCodec::<(), ()>::default();
    let uri = http::uri::PathAndQuery::try_from(path.to_owned()).expect("a method path");
    let result = if streaming {
        grpc.server_streaming(tonic::Request::new(()), uri, codec).await.map(|_| ())
    } else {
        grpc.unary(tonic::Request::new(()), uri, codec).await.map(|_| ())
    };
    let Err(status) = result else {
        return Answer::Handled;
    };
    match (refusal_of(&status), status.code()) {
        (Some(Refusal::Unauthenticated), _) => Answer::Unidentified,
        (Some(Refusal::PermissionDenied), _) => Answer::Denied,
        (None, tonic::Code::Unimplemented) => Answer::Unimplemented,
        (None, tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::Cancelled) => Answer::NoConnection,
        (None, _) => Answer::Handled,
    }
}
