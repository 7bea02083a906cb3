// A call whose request is not a valid protobuf message of its method gets
// INVALID_ARGUMENT saying so: gRPC's callback API would answer
// UNIMPLEMENTED with no message (its handler is never called). A server
// interceptor, on every service of the port.
//
// Thread-safe (one interceptor per call).
#pragma once

#include <grpcpp/support/server_interceptor.h>

namespace kvgo::server {

class BadRequestInterceptorFactory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  grpc::experimental::Interceptor* CreateServerInterceptor(grpc::experimental::ServerRpcInfo* info) override;
};

}  // namespace kvgo::server
