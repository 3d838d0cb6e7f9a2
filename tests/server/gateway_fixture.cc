#include "tests/server/gateway_fixture.h"

#include <grpcpp/generic/generic_stub.h>
#include <httplib.h>

#include <sstream>
#include <thread>

#include "testing/reflection_subset.pb.h"

namespace ismscode::gateway {

namespace v1 = ismscode::harness::v1;
using namespace std::chrono_literals;

google::rpc::Status DetailsOf(const grpc::Status& s) {
  google::rpc::Status details;
  EXPECT_TRUE(details.ParseFromString(s.error_details())) << "no google.rpc.Status details";
  return details;
}

std::string ReasonOf(const grpc::Status& s) {
  google::rpc::Status details;
  if (!details.ParseFromString(s.error_details())) return "";
  for (const auto& any : details.details()) {
    google::rpc::ErrorInfo info;
    if (any.UnpackTo(&info)) return info.reason();
  }
  return "";
}

std::vector<std::string> ReflectedServices(const std::shared_ptr<grpc::Channel>& channel) {
  grpc::GenericStub stub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 10s);
  grpc::CompletionQueue cq;
  void* tag;
  bool ok;
  auto call =
      stub.PrepareCall(&ctx, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &cq);
  call->StartCall(reinterpret_cast<void*>(1));
  cq.Next(&tag, &ok);
  ismscode::testing::ReflectionRequest request;
  request.set_list_services("");
  const std::string bytes = request.SerializeAsString();
  grpc::Slice slice(bytes);
  grpc::ByteBuffer out(&slice, 1);
  call->WriteLast(out, grpc::WriteOptions(), reinterpret_cast<void*>(2));
  cq.Next(&tag, &ok);
  grpc::ByteBuffer in;
  call->Read(&in, reinterpret_cast<void*>(3));
  cq.Next(&tag, &ok);
  std::vector<std::string> names;
  if (ok) {
    std::vector<grpc::Slice> slices;
    in.Dump(&slices);
    std::string data;
    for (const auto& s : slices) data.append(reinterpret_cast<const char*>(s.begin()), s.size());
    ismscode::testing::ReflectionResponse response;
    if (response.ParseFromString(data)) {
      for (const auto& s : response.list_services_response().service()) names.push_back(s.name());
    }
  }
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(4));
  cq.Next(&tag, &ok);
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  return names;
}

void SkipHeartbeats(grpc::ClientReader<v1::AwaitCodeEvent>& stream, v1::AwaitCodeEvent& event) {
  while (stream.Read(&event) && event.has_waiting()) {
  }
}

void ReadAfterFirstPoll(grpc::ClientReader<v1::AwaitCodeEvent>& stream, v1::AwaitCodeEvent& event) {
  while (stream.Read(&event) && event.has_waiting() && event.waiting().polls() == 0) {
  }
}

std::optional<double> Sample(const std::string& exposition, const std::string& series) {
  std::istringstream lines(exposition);
  for (std::string line; std::getline(lines, line);) {
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 &&
        line[series.size()] == ' ') {
      return std::stod(line.substr(series.size() + 1));
    }
  }
  return std::nullopt;
}

std::string Scrape(int port) {
  httplib::Client client("127.0.0.1", port);
  client.set_tcp_nodelay(true);
  auto r = client.Get("/metrics");
  EXPECT_TRUE(r) << "metrics endpoint unreachable";
  if (!r) return "";
  EXPECT_EQ(r->status, 200);
  return r->body;
}

GatewayTest::GatewayTest() {
  mock_.Control("PATCH", "accounts/key-alpha-0001", {{"rate_limit", "off"}, {"balance", 100}});
  Restart(DefaultOptions());
}

GatewayOptions GatewayTest::DefaultOptions() const {
  return {.upstream = {.base_url = mock_.base_url() + "/api/v3", .read_timeout = 500ms},
          .upstream_key = "key-alpha-0001",
          .poll_interval = 20ms,
          .rate_limit = 60000,
          .prefetch_lists = false,  // tests that read the mock's journal see only their own
          .workers = 4,
          .metrics_listen = "127.0.0.1:0"};
}

void GatewayTest::Restart(const GatewayOptions& options,
                          std::shared_ptr<grpc::ChannelCredentials> credentials) {
  stub_.reset();
  channel_.reset();
  gateway_.reset();
  auto started = Gateway::Start(options);
  ASSERT_TRUE(started.ok()) << started.status();
  gateway_ = *std::move(started);
  grpc::ChannelArguments args;
  // The test certificate names localhost; the channel dials 127.0.0.1.
  args.SetSslTargetNameOverride("localhost");
  channel_ =
      grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(gateway_->port()), credentials, args);
  stub_ = v1::VerificationService::NewStub(channel_);
}

v1::PhoneNumber GatewayTest::Acquire(const std::string& country, const std::string& service) {
  grpc::ClientContext ctx;
  v1::AcquireNumberRequest req;
  req.set_country(country);
  req.set_service(service);
  v1::AcquireNumberResponse resp;
  const grpc::Status s = stub_->AcquireNumber(&ctx, req, &resp);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return resp.number();
}

AwaitStream GatewayTest::OpenAwait(const std::string& number_id) {
  v1::AwaitCodeRequest req;
  req.set_number_id(number_id);
  return OpenAwait(req);
}

AwaitStream GatewayTest::OpenAwait(const v1::AwaitCodeRequest& request) {
  AwaitStream stream{.context = std::make_unique<grpc::ClientContext>()};
  stream.context->set_deadline(std::chrono::system_clock::now() + 60s);
  stream.reader = stub_->AwaitCode(stream.context.get(), request);
  return stream;
}

void GatewayTest::AwaitMetric(const std::string& series, double value) {
  for (int i = 0; Sample(Scrape(gateway_->metrics_port()), series) != value; ++i) {
    ASSERT_LT(i, 1000) << series << " never reached " << value;
    std::this_thread::sleep_for(5ms);  // polling a condition, bounded
  }
}

std::string GatewayTest::ExpectedCode(const std::string& id, size_t index) {
  return testing::Body(mock_.Control("GET", "numbers/" + id))["number"]["sms"][index]["code"];
}

}  // namespace ismscode::gateway
