#include "server/bad_request.h"

#include <string>

namespace kvgo::server {

namespace {

using grpc::experimental::InterceptionHookPoints;

class BadRequestInterceptor final : public grpc::experimental::Interceptor {
 public:
  explicit BadRequestInterceptor(const char* method) : method_(method) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* m) override {
    // No message after the receive: it did not parse (or none was sent).
    if (m->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE) && m->GetRecvMessage() == nullptr) {
      unparsed_ = true;
    }
    if (unparsed_ && m->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      m->ModifySendStatus(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                       std::string("the request is not a valid protobuf message of ") + method_));
    }
    m->Proceed();
  }

 private:
  const char* method_;
  bool unparsed_ = false;
};

}  // namespace

grpc::experimental::Interceptor* BadRequestInterceptorFactory::CreateServerInterceptor(
    grpc::experimental::ServerRpcInfo* info) {
  return new BadRequestInterceptor(info->method());
}

}  // namespace kvgo::server
