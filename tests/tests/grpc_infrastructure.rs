//! Health and reflection answer on the registry's port, as Kubernetes probes
//! and grpcurl-style tools expect.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::type_complexity)] // test code: a panic is the failure report

use gatehouse_tests::TestEnv;
use tokio_stream::StreamExt;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

#[tokio::test]
async fn health_reports_serving_once_the_database_is_reachable() {
    let env = TestEnv::builder().start().await;
    let mut health = HealthClient::new(env.channel(env.registry_addr).await);
    let mut watch = health
        .watch(HealthCheckRequest { service: gatehouse_registry::SERVICE_NAME.to_owned() })
        .await
        .unwrap()
        .into_inner();
    // Watch streams every change; wait for SERVING (the monitor's first check).
    let serving = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while let Some(update) = watch.next().await {
            if update.unwrap().status == ServingStatus::Serving as i32 {
                return true;
            }
        }
        false
    })
    .await
    .unwrap();
    assert!(serving);
    let overall = health.check(HealthCheckRequest { service: String::new() }).await.unwrap().into_inner();
    assert_eq!(overall.status, ServingStatus::Serving as i32);
    let live = health.check(HealthCheckRequest { service: "liveness".to_owned() }).await.unwrap().into_inner();
    assert_eq!(live.status, ServingStatus::Serving as i32, "the liveness entry the manifests probe");
    let unknown = health.check(HealthCheckRequest { service: "nope".to_owned() }).await.unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::NotFound);
}

#[tokio::test]
async fn reflection_lists_every_gatehouse_service() {
    // Off unless turned on; then for identified callers only.
    let off = TestEnv::builder().start().await;
    let as_operator = off.as_role(gatehouse_runtime::access::Role::Operator);
    let mut reflection =
        ServerReflectionClient::new(gatehouse_tests::presenting(off.channel(off.registry_addr).await, as_operator));
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let refused = reflection.server_reflection_info(tokio_stream::iter([request])).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unimplemented, "reflection is off by default");

    let env = TestEnv::builder().reflection().start().await;
    let mut anonymous = ServerReflectionClient::new(env.channel(env.registry_addr).await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let refused = anonymous.server_reflection_info(tokio_stream::iter([request])).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated, "an unidentified caller gets no schema");
    let operator = gatehouse_tests::presenting(
        env.channel(env.registry_addr).await,
        env.as_role(gatehouse_runtime::access::Role::Operator),
    );
    let mut reflection = ServerReflectionClient::new(operator);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = reflection.server_reflection_info(tokio_stream::iter([request])).await.unwrap().into_inner();
    let response = responses.next().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("unexpected reflection answer {response:?}");
    };
    let names: Vec<_> = list.service.into_iter().map(|s| s.name).collect();
    for expected in ["gatehouse.registry.v1.RegistryService", "grpc.health.v1.Health"] {
        assert!(names.iter().any(|n| n == expected), "{expected} missing from {names:?}");
    }
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::FileContainingSymbol("gatehouse.token.v1.TokenService".to_owned())),
    };
    let mut responses = reflection.server_reflection_info(tokio_stream::iter([request])).await.unwrap().into_inner();
    let response = responses.next().await.unwrap().unwrap();
    assert!(matches!(response.message_response, Some(MessageResponse::FileDescriptorResponse(_))));
}
