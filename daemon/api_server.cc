// The control API server described in daemon/api_server.h.
//
// The request path is one function, ApiServer::HandleRequest, that knows nothing of libsoup, so
// that the tests and the fuzzer drive exactly what the daemon runs. Checks come in an order that
// leaks nothing to a stranger: the token first (401 for everything without a good one, so an
// unauthenticated client cannot map the routes), then path (404), method (405), role (403), body
// size (413), media type (415), JSON (400), and only then the handler.
#include "daemon/api_server.h"

#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>
#include <libsoup/soup.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <exception>

#include "base/clock.h"
#include "base/log.h"
#include "base/utf8.h"
#include "daemon/ui_files.h"

namespace patrolrec::daemon {

using base::IsValidUtf8;
namespace {

using base::Status;
using nlohmann::json;

constexpr int kMaxNestingDepth = 32;
constexpr size_t kMaxAuditTargetBytes = 256;
// Bodies announced larger than this are refused without being read (see Impl::OnEarly).
constexpr goffset kMaxReadBodyBytes = 1024 * 1024;

std::string Dump(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string RoleList(const std::set<Role>& roles) {
  std::string out;
  for (Role role : {Role::kOfficer, Role::kSupervisor, Role::kTechnician, Role::kAuditor}) {
    if (roles.count(role)) out += std::string(out.empty() ? "" : ", ") + RoleName(role);
  }
  return out.empty() ? "nobody" : out;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// %XX decoding; '+' is a space only in query strings. False for a bad escape or a NUL.
bool PercentDecode(std::string_view in, bool plus_is_space, std::string* out) {
  out->clear();
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return false;
      int high = HexValue(in[i + 1]), low = HexValue(in[i + 2]);
      if (high < 0 || low < 0) return false;
      c = static_cast<char>(high * 16 + low);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      c = ' ';
    }
    if (c == '\0') return false;
    out->push_back(c);
  }
  return true;
}

std::vector<std::string> SplitPath(std::string_view path) {
  std::vector<std::string> segments;
  size_t start = 1;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    segments.emplace_back(path.substr(start, end - start));
    start = end + 1;
  }
  return segments;
}

// "a=1&b=x%20y" -> {a: 1, b: "x y"}; false, with `problem`, for a malformed or repeated key.
bool ParseQuery(const std::string& query, std::map<std::string, std::string>* out,
                std::string* problem) {
  size_t start = 0;
  while (start < query.size()) {
    size_t end = query.find('&', start);
    if (end == std::string::npos) end = query.size();
    std::string_view pair(query.data() + start, end - start);
    start = end + 1;
    if (pair.empty()) continue;
    size_t equals = pair.find('=');
    std::string key, value;
    if (!PercentDecode(pair.substr(0, equals), true, &key) || key.empty() ||
        (equals != std::string_view::npos &&
         !PercentDecode(pair.substr(equals + 1), true, &value)) ||
        !IsValidUtf8(key) || !IsValidUtf8(value)) {
      *problem =
          "malformed query string: expected key=value pairs joined by '&' with "
          "%-escapes for special characters";
      return false;
    }
    if (!out->emplace(key, value).second) {
      *problem = "query parameter \"" + key + "\" is given twice";
      return false;
    }
  }
  return true;
}

// Deepest nesting of arrays and objects in a JSON text (strings skipped), to refuse bodies that
// would make any recursive walk of them deep before parsing them at all.
int NestingDepth(const std::string& text) {
  int depth = 0, deepest = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return deepest;
}

std::string Sha256Raw(const std::string& data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  return std::string(reinterpret_cast<char*>(digest), sizeof digest);
}

std::string HexToRaw(const std::string& hex) {
  std::string raw;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    raw.push_back(static_cast<char>(HexValue(hex[i]) * 16 + HexValue(hex[i + 1])));
  }
  return raw;
}

std::string Truncated(const std::string& text, size_t max_bytes) {
  return text.size() <= max_bytes ? text : text.substr(0, max_bytes) + "...";
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Responses and body checks

ApiResponse ApiResponse::Error(int status, std::string code, std::string reason) {
  ApiResponse response;
  response.status = status;
  response.body = json{{"error", reason}, {"code", std::move(code)}};
  response.audit_detail = std::move(reason);
  return response;
}

FieldReader::FieldReader(const json& body) : body_(body) {
  if (!body_.is_object()) problem_ = "the body must be a JSON object";
}

void FieldReader::Fail(std::string reason) {
  if (problem_.empty()) problem_ = std::move(reason);
}

const json* FieldReader::Find(const std::string& key, bool required, const char* expected) {
  asked_.insert(key);
  if (!problem_.empty()) return nullptr;
  auto it = body_.find(key);
  if (it == body_.end() || it->is_null()) {
    if (required) Fail("missing field \"" + key + "\" (" + expected + ")");
    return nullptr;
  }
  return &*it;
}

bool FieldReader::CheckString(const std::string& key, const json& value, size_t max_bytes,
                              bool allow_empty, const std::string& what) {
  if (!value.is_string()) {
    Fail("field \"" + key + "\" must be " + what + ", got " + std::string(value.type_name()));
    return false;
  }
  const std::string& text = value.get_ref<const std::string&>();
  if (text.empty() && !allow_empty) {
    Fail("field \"" + key + "\" must not be empty");
    return false;
  }
  if (text.size() > max_bytes) {
    Fail("field \"" + key + "\" is longer than " + std::to_string(max_bytes) + " bytes");
    return false;
  }
  if (std::any_of(text.begin(), text.end(),
                  [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; })) {
    Fail("field \"" + key + "\" contains a control character (line break, tab or NUL)");
    return false;
  }
  return true;
}

std::string FieldReader::String(const std::string& key, size_t max_bytes, bool allow_empty) {
  auto value = OptionalString(key, max_bytes, allow_empty);
  if (!value) Find(key, true, "a string");
  return value.value_or("");
}

std::optional<std::string> FieldReader::OptionalString(const std::string& key, size_t max_bytes,
                                                       bool allow_empty) {
  const json* value = Find(key, false, "a string");
  if (!value || !CheckString(key, *value, max_bytes, allow_empty, "a string")) return std::nullopt;
  return value->get<std::string>();
}

int64_t FieldReader::Int(const std::string& key, int64_t min, int64_t max) {
  auto value = OptionalInt(key, min, max);
  if (!value) Find(key, true, "a whole number");
  return value.value_or(0);
}

std::optional<int64_t> FieldReader::OptionalInt(const std::string& key, int64_t min, int64_t max) {
  const json* value = Find(key, false, "a whole number");
  if (!value) return std::nullopt;
  const std::string range = " from " + std::to_string(min) + " to " + std::to_string(max);
  if (value->is_number_integer()) {
    // A large unsigned value does not fit int64_t; compare as unsigned first.
    if (value->is_number_unsigned() && value->get<uint64_t>() > static_cast<uint64_t>(max)) {
      Fail("field \"" + key + "\" must be a whole number" + range);
      return std::nullopt;
    }
    int64_t number = value->get<int64_t>();
    if (number >= min && number <= max) return number;
  }
  Fail("field \"" + key + "\" must be a whole number" + range + ", got " +
       Truncated(Dump(*value), 40));
  return std::nullopt;
}

bool FieldReader::Bool(const std::string& key) {
  auto value = OptionalBool(key);
  if (!value) Find(key, true, "true or false");
  return value.value_or(false);
}

std::optional<bool> FieldReader::OptionalBool(const std::string& key) {
  const json* value = Find(key, false, "true or false");
  if (!value) return std::nullopt;
  if (!value->is_boolean()) {
    Fail("field \"" + key + "\" must be true or false, got " + std::string(value->type_name()));
    return std::nullopt;
  }
  return value->get<bool>();
}

std::vector<std::string> FieldReader::StringArray(const std::string& key, size_t max_items,
                                                  size_t max_bytes) {
  auto value = OptionalStringArray(key, max_items, max_bytes);
  if (!value) Find(key, true, "an array of strings");
  return value.value_or(std::vector<std::string>{});
}

std::optional<std::vector<std::string>> FieldReader::OptionalStringArray(const std::string& key,
                                                                         size_t max_items,
                                                                         size_t max_bytes) {
  const json* value = Find(key, false, "an array of strings");
  if (!value) return std::nullopt;
  if (!value->is_array() || value->size() > max_items) {
    Fail("field \"" + key + "\" must be an array of at most " + std::to_string(max_items) +
         " strings");
    return std::nullopt;
  }
  std::vector<std::string> items;
  for (const json& item : *value) {
    if (!CheckString(key, item, max_bytes, false, "an array of strings")) return std::nullopt;
    items.push_back(item.get<std::string>());
  }
  return items;
}

std::optional<ApiResponse> FieldReader::Finish() {
  if (problem_.empty() && body_.is_object()) {
    for (const auto& [key, unused] : body_.items()) {
      if (!asked_.count(key)) {
        std::string known;
        for (const std::string& k : asked_) known += (known.empty() ? "" : ", ") + k;
        Fail("unknown field \"" + Truncated(key, 64) + "\"" +
             (known.empty() ? " (this call takes no fields)" : " (known fields: " + known + ")"));
        break;
      }
    }
  }
  if (problem_.empty()) return std::nullopt;
  return ApiResponse::Error(400, "bad-request", problem_);
}

std::optional<ApiResponse> QueryInt(const ApiRequest& request, const std::string& key, int64_t min,
                                    int64_t max, int64_t fallback, int64_t* out) {
  auto it = request.query.find(key);
  if (it == request.query.end()) {
    *out = fallback;
    return std::nullopt;
  }
  const std::string& text = it->second;
  int64_t value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc() || end != text.data() + text.size() || value < min ||
      value > max) {
    return ApiResponse::Error(400, "bad-request",
                              "query parameter \"" + key + "\" must be a whole number from " +
                                  std::to_string(min) + " to " + std::to_string(max) + ", got \"" +
                                  Truncated(text, 40) + "\"");
  }
  *out = value;
  return std::nullopt;
}

ApiListenConfig ListenConfigFrom(const ApiConfig& api) {
  ApiListenConfig config;
  config.socket_path = api.socket;
  config.tcp_host = api.listen_host;
  config.tcp_port = api.listen_port;
  return config;
}

// ---------------------------------------------------------------------------------------------
// The libsoup side: listening sockets, the request callback and event streams.

struct ApiServer::Impl {
  struct Stream {
    SoupServerMessage* message;  // referenced
    Role role;
  };

  ApiServer* owner = nullptr;
  SoupServer* server = nullptr;
  std::string socket_path;
  GSource* keepalive = nullptr;
  std::vector<Stream> streams;
  int64_t next_event_id = 1;

  static void OnEarly(SoupServer*, SoupServerMessage* message, const char*, GHashTable*,
                      gpointer self);
  static void OnRequest(SoupServer*, SoupServerMessage* message, const char*, GHashTable*,
                        gpointer self);
  static void OnStreamEnded(SoupServerMessage* message, gpointer self);
  static gboolean OnKeepalive(gpointer self);

  void Send(SoupServerMessage* message, const ApiResponse& response);
  void StartStream(SoupServerMessage* message, Role role);
  void AppendToStream(const Stream& stream, const std::string& text);
  void DropStream(SoupServerMessage* message);
};

namespace {

RawApiRequest RawFrom(SoupServerMessage* message) {
  RawApiRequest raw;
  raw.method = soup_server_message_get_method(message);
  GUri* uri = soup_server_message_get_uri(message);
  raw.path = g_uri_get_path(uri) ? g_uri_get_path(uri) : "";
  raw.query = g_uri_get_query(uri) ? g_uri_get_query(uri) : "";
  SoupMessageHeaders* headers = soup_server_message_get_request_headers(message);
  if (const char* value = soup_message_headers_get_one(headers, "Authorization")) {
    raw.authorization = value;
  }
  if (const char* value = soup_message_headers_get_one(headers, "Content-Type")) {
    raw.content_type = value;
  }
  SoupMessageBody* body = soup_server_message_get_request_body(message);
  if (body && body->length > 0) {
    GBytes* bytes = soup_message_body_flatten(body);
    gsize size = 0;
    const char* data = static_cast<const char*>(g_bytes_get_data(bytes, &size));
    raw.body.assign(data, size);
    g_bytes_unref(bytes);
  }
  GSocketAddress* local = soup_server_message_get_local_address(message);
  if (local && G_IS_INET_SOCKET_ADDRESS(local)) {
    const char* host = soup_server_message_get_remote_host(message);
    GSocketAddress* remote = soup_server_message_get_remote_address(message);
    int port = remote && G_IS_INET_SOCKET_ADDRESS(remote)
                   ? g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(remote))
                   : 0;
    raw.transport = std::string(host ? host : "?") + ":" + std::to_string(port);
  }
  return raw;
}

}  // namespace

// Before the body is read. libsoup reads a body even when an early handler has answered, so a
// body announced as huge, or chunked (no announced size at all), is answered on the raw
// connection, which is then closed: a client cannot make the daemon buffer megabytes. A body
// between kMaxApiBodyBytes and kMaxReadBodyBytes is read and refused with 413 by HandleRequest,
// so that an ordinary client that sends it whole still gets to read the answer.
void ApiServer::Impl::OnEarly(SoupServer*, SoupServerMessage* message, const char*, GHashTable*,
                              gpointer self) {
  auto* impl = static_cast<Impl*>(self);
  try {
    SoupMessageHeaders* headers = soup_server_message_get_request_headers(message);
    goffset length = soup_message_headers_get_content_length(headers);
    SoupEncoding encoding = soup_message_headers_get_encoding(headers);
    std::optional<ApiResponse> refusal;
    if (encoding == SOUP_ENCODING_CHUNKED || encoding == SOUP_ENCODING_EOF) {
      refusal = ApiResponse::Error(411, "length-required",
                                   "send the body with a Content-Length header (chunked request "
                                   "bodies are not accepted)");
    } else if (encoding == SOUP_ENCODING_CONTENT_LENGTH &&
               length > static_cast<goffset>(kMaxReadBodyBytes)) {
      refusal = ApiResponse::Error(413, "too-large",
                                   "the body is " + std::to_string(length) + " bytes; at most " +
                                       std::to_string(kMaxApiBodyBytes) + " are accepted");
    }
    if (!refusal) return;
    RawApiRequest raw = RawFrom(message);
    std::string problem;
    auto who = impl->owner->Authenticate(raw.authorization, &problem);
    ApiResponse response =
        impl->owner->Audited(raw, raw.method + " " + raw.path, who, false, std::move(*refusal));
    const std::string body = Dump(response.body) + "\n";
    const std::string reply =
        "HTTP/1.1 " + std::to_string(response.status) + " " +
        soup_status_get_phrase(static_cast<guint>(response.status)) +
        "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
        "\r\nConnection: close\r\n\r\n" + body;
    GIOStream* stream = soup_server_message_steal_connection(message);
    if (!stream) return;
    g_output_stream_write_all(g_io_stream_get_output_stream(stream), reply.data(), reply.size(),
                              nullptr, nullptr, nullptr);
    g_io_stream_close(stream, nullptr, nullptr);
    g_object_unref(stream);
  } catch (const std::exception& e) {
    base::LogError(std::string("control API: early check failed: ") + e.what());
    soup_server_message_set_status(message, 500, nullptr);
  } catch (...) {
    soup_server_message_set_status(message, 500, nullptr);
  }
}

void ApiServer::Impl::OnRequest(SoupServer*, SoupServerMessage* message, const char*, GHashTable*,
                                gpointer self) {
  auto* impl = static_cast<Impl*>(self);
  try {
    if (soup_server_message_get_status(message) != 0) return;  // refused by OnEarly
    std::optional<Role> stream_role;
    ApiResponse response = impl->owner->HandleRequest(RawFrom(message), &stream_role);
    if (stream_role && response.status == 200) {
      impl->StartStream(message, *stream_role);
    } else {
      impl->Send(message, response);
    }
  } catch (const std::exception& e) {
    base::LogError(std::string("control API: request failed: ") + e.what());
    soup_server_message_set_status(message, 500, nullptr);
  } catch (...) {
    base::LogError("control API: request failed with an unknown exception");
    soup_server_message_set_status(message, 500, nullptr);
  }
}

void ApiServer::Impl::Send(SoupServerMessage* message, const ApiResponse& response) {
  const bool raw = !response.content_type.empty();
  const std::string body = raw ? std::string() : Dump(response.body) + "\n";
  soup_server_message_set_status(message, static_cast<guint>(response.status), nullptr);
  SoupMessageHeaders* headers = soup_server_message_get_response_headers(message);
  for (const auto& [name, value] : response.headers) {
    soup_message_headers_replace(headers, name.c_str(), value.c_str());
  }
  soup_message_headers_replace(headers, "Cache-Control", "no-store");
  if (raw) {
    soup_server_message_set_response(message, response.content_type.c_str(), SOUP_MEMORY_COPY,
                                     response.raw_body.data(), response.raw_body.size());
    return;
  }
  soup_server_message_set_response(message, "application/json", SOUP_MEMORY_COPY, body.data(),
                                   body.size());
}

void ApiServer::Impl::StartStream(SoupServerMessage* message, Role role) {
  soup_server_message_set_status(message, 200, nullptr);
  SoupMessageHeaders* headers = soup_server_message_get_response_headers(message);
  soup_message_headers_set_content_type(headers, "text/event-stream", nullptr);
  soup_message_headers_set_encoding(headers, SOUP_ENCODING_CHUNKED);
  soup_message_headers_replace(headers, "Cache-Control", "no-store");
  SoupMessageBody* body = soup_server_message_get_response_body(message);
  soup_message_body_set_accumulate(body, FALSE);
  g_object_ref(message);
  g_signal_connect(message, "finished", G_CALLBACK(OnStreamEnded), this);
  g_signal_connect(message, "disconnected", G_CALLBACK(OnStreamEnded), this);
  streams.push_back(Stream{message, role});
  AppendToStream(streams.back(), ": connected as " + std::string(RoleName(role)) + "\n\n");
}

void ApiServer::Impl::AppendToStream(const Stream& stream, const std::string& text) {
  SoupMessageBody* body = soup_server_message_get_response_body(stream.message);
  soup_message_body_append(body, SOUP_MEMORY_COPY, text.data(), text.size());
  soup_server_message_unpause(stream.message);
}

void ApiServer::Impl::OnStreamEnded(SoupServerMessage* message, gpointer self) {
  static_cast<Impl*>(self)->DropStream(message);
}

void ApiServer::Impl::DropStream(SoupServerMessage* message) {
  auto it = std::find_if(streams.begin(), streams.end(),
                         [message](const Stream& s) { return s.message == message; });
  if (it == streams.end()) return;
  streams.erase(it);
  g_signal_handlers_disconnect_by_data(message, this);
  g_object_unref(message);
}

gboolean ApiServer::Impl::OnKeepalive(gpointer self) {
  auto* impl = static_cast<Impl*>(self);
  for (const Stream& stream : std::vector<Stream>(impl->streams)) {
    impl->AppendToStream(stream, ": keep-alive\n\n");
  }
  return G_SOURCE_CONTINUE;
}

// ---------------------------------------------------------------------------------------------
// ApiServer

ApiServer::ApiServer(const std::vector<UserConfig>& users, storage::AuditLog& audit)
    : audit_(audit),
      sessions_(std::make_unique<SessionTable>(
          users, [] { return static_cast<int64_t>(g_get_monotonic_time()) * 1000; })),
      impl_(std::make_unique<Impl>()) {
  impl_->owner = this;
  for (const UserConfig& user : users) {
    users_.push_back(User{user.name, user.role, HexToRaw(user.token_sha256)});
  }
  const std::set<Role> everyone = {Role::kOfficer, Role::kSupervisor, Role::kTechnician,
                                   Role::kAuditor};
  // The stream itself is opened in Impl::OnRequest; this entry only routes and authorises it.
  Route("GET", "/v1/events", everyone, AuditPolicy::kAlways,
        [](const ApiRequest&) { return ApiResponse{}; });
  Route("GET", "/v1/audit", {Role::kAuditor, Role::kSupervisor}, AuditPolicy::kAlways,
        [this](const ApiRequest& request) { return ListAudit(request); });
}

ApiServer::~ApiServer() { Stop(); }

void ApiServer::ServeUi(std::string directory) { ui_dir_ = std::move(directory); }

namespace {

// The token of an "Authorization: Bearer TOKEN" header that Authenticate accepted.
std::string BearerToken(const std::string& header) {
  std::string token = header.substr(7);
  while (!token.empty() && token.front() == ' ') token.erase(0, 1);
  while (!token.empty() && token.back() == ' ') token.pop_back();
  return token;
}

}  // namespace

ApiResponse ApiServer::SignIn(const RawApiRequest& raw) {
  const std::string action = "POST /v1/session";
  std::string type = raw.content_type.value_or("");
  type = type.substr(0, type.find(';'));
  json body = json::parse(raw.body, nullptr, /*allow_exceptions=*/false);
  if (raw.body.size() > 4096 || g_ascii_strcasecmp(type.c_str(), "application/json") != 0 ||
      body.is_discarded() || !body.is_object()) {
    return Audited(raw, action, std::nullopt, false,
                   ApiResponse::Error(400, "bad-request",
                                      "send {\"pin\": \"DIGITS\"} as Content-Type: "
                                      "application/json"));
  }
  FieldReader fields(body);
  std::string pin = fields.String("pin", 64);
  if (auto error = fields.Finish()) return Audited(raw, action, std::nullopt, false, *error);
  if (!sessions_->enabled()) {
    return Audited(raw, action, std::nullopt, false,
                   ApiResponse::Error(404, "no-pins",
                                      "PIN sign-in is off: no [user] has a pin_sha256 (see "
                                      "docs/configuration.md); sign in with a token"));
  }
  SignInResult result = sessions_->SignIn(pin);
  using Outcome = SignInResult::Outcome;
  if (result.outcome != Outcome::kOk) {
    ApiResponse refusal =
        result.outcome == Outcome::kLockedOut
            ? ApiResponse::Error(429, "locked-out", result.reason)
        : result.outcome == Outcome::kMalformed ? ApiResponse::Error(400, "bad-pin", result.reason)
                                                : ApiResponse::Error(401, "wrong-pin",
                                                                     result.reason);
    if (result.retry_after_s > 0) {
      refusal.headers.push_back({"Retry-After", std::to_string(result.retry_after_s)});
      refusal.body["retry_after_s"] = result.retry_after_s;
    }
    return Audited(raw, action, std::nullopt, false, std::move(refusal));
  }
  ApiResponse response;
  response.status = 201;
  response.body = json{{"token", result.token},
                       {"user", result.user},
                       {"role", RoleName(result.role)},
                       {"idle_expiry_s", result.expires_in_s}};
  response.audit_detail = "signed in by PIN (session expires after " +
                          std::to_string(result.expires_in_s) + " s unused)";
  return Audited(raw, action, ApiIdentity{result.user, result.role}, true, std::move(response));
}

ApiResponse ApiServer::SignOut(const RawApiRequest& raw, const ApiIdentity& who) {
  const bool ended = sessions_->SignOut(BearerToken(*raw.authorization));
  if (!ended) {
    return Audited(raw, "DELETE /v1/session", who, false,
                   ApiResponse::Error(409, "not-a-session",
                                      "this token is a configured [user] token, not a PIN "
                                      "session: there is nothing to sign out"));
  }
  ApiResponse response;
  response.body = json{{"signed_out", who.user}};
  response.audit_detail = "signed out";
  return Audited(raw, "DELETE /v1/session", who, true, std::move(response));
}

void ApiServer::Route(const std::string& method, const std::string& pattern, std::set<Role> roles,
                      AuditPolicy audit, Handler handler) {
  RouteEntry route;
  route.method = method;
  route.pattern = pattern;
  route.segments = SplitPath(pattern);
  route.roles = std::move(roles);
  route.audit = method == "GET" || method == "HEAD" ? audit : AuditPolicy::kAlways;
  route.handler = std::move(handler);
  routes_.push_back(std::move(route));
}

size_t ApiServer::event_streams() const { return impl_->streams.size(); }

void ApiServer::Publish(const std::string& event, const json& data,
                        const std::set<Role>& visible_to) {
  const int64_t id = impl_->next_event_id++;
  const std::string text =
      "id: " + std::to_string(id) + "\nevent: " + event + "\ndata: " + Dump(data) + "\n\n";
  for (const Impl::Stream& stream : std::vector<Impl::Stream>(impl_->streams)) {
    if (visible_to.count(stream.role)) impl_->AppendToStream(stream, text);
  }
}

Status ApiServer::Listen(const ApiListenConfig& config) {
  if (impl_->server) return Status::Error("control API: already listening");
  impl_->server = soup_server_new("server-header", "patrolrecd", nullptr);
  soup_server_add_early_handler(impl_->server, nullptr, Impl::OnEarly, impl_.get(), nullptr);
  soup_server_add_handler(impl_->server, nullptr, Impl::OnRequest, impl_.get(), nullptr);

  GError* error = nullptr;
  const std::string& path = config.socket_path;
  auto fail = [this, &error](const std::string& what) {
    std::string message =
        "control API: " + what + (error ? ": " + std::string(error->message) : "");
    g_clear_error(&error);
    Stop();
    return Status::Error(message);
  };
  // Unix socket: remove a stale one (never a file that is not a socket), bind, restrict, listen.
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return fail(path + ": exists and is not a socket; not removing it");
    }
    if (::unlink(path.c_str()) != 0) {
      return fail(path + ": cannot remove the stale socket: " + base::ErrnoText(errno));
    }
  }
  GSocket* unix_socket =
      g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT, &error);
  if (!unix_socket) return fail(path + ": cannot create a socket");
  GSocketAddress* address = g_unix_socket_address_new(path.c_str());
  gboolean ok = g_socket_bind(unix_socket, address, FALSE, &error);
  g_object_unref(address);
  // Before listen(): nobody can connect until the mode is right.
  if (ok && ::chmod(path.c_str(), 0660) != 0) {
    g_object_unref(unix_socket);
    return fail(path + ": chmod 0660: " + base::ErrnoText(errno));
  }
  ok = ok && g_socket_listen(unix_socket, &error) &&
       soup_server_listen_socket(impl_->server, unix_socket,
                                 static_cast<SoupServerListenOptions>(0), &error);
  g_object_unref(unix_socket);
  if (!ok) return fail(path + ": cannot listen");
  impl_->socket_path = path;

  if (!config.tcp_host.empty()) {
    const std::string where = config.tcp_host + ":" + config.tcp_port;
    int port = 0;
    auto [end, parse_error] = std::from_chars(
        config.tcp_port.data(), config.tcp_port.data() + config.tcp_port.size(), port);
    GSocketAddress* tcp = nullptr;
    if (parse_error == std::errc() && end == config.tcp_port.data() + config.tcp_port.size() &&
        port >= 0 && port <= 65535) {
      tcp =
          g_inet_socket_address_new_from_string(config.tcp_host.c_str(), static_cast<guint>(port));
    }
    if (!tcp) return fail(where + ": expected an IP address and a port, e.g. 127.0.0.1:8080");
    GSocket* socket = g_socket_new(g_socket_address_get_family(tcp), G_SOCKET_TYPE_STREAM,
                                   G_SOCKET_PROTOCOL_DEFAULT, &error);
    ok = socket && g_socket_bind(socket, tcp, TRUE, &error) && g_socket_listen(socket, &error) &&
         soup_server_listen_socket(impl_->server, socket, static_cast<SoupServerListenOptions>(0),
                                   &error);
    g_object_unref(tcp);
    if (ok) {
      GSocketAddress* local = g_socket_get_local_address(socket, nullptr);
      if (local) {
        tcp_port_ = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(local));
        g_object_unref(local);
      }
    }
    if (socket) g_object_unref(socket);
    if (!ok) return fail(where + ": cannot listen");
  }

  impl_->keepalive = g_timeout_source_new_seconds(static_cast<guint>(config.keepalive_s));
  g_source_set_callback(impl_->keepalive, Impl::OnKeepalive, impl_.get(), nullptr);
  g_source_attach(impl_->keepalive, g_main_context_get_thread_default());
  base::LogInfo(
      "control API listening on " + path +
          (config.tcp_host.empty() ? ""
                                   : " and " + config.tcp_host + ":" + std::to_string(tcp_port_)),
      {{"API_SOCKET", path}});
  return Status::Ok();
}

void ApiServer::Stop() {
  if (!impl_) return;
  for (const Impl::Stream& stream : std::vector<Impl::Stream>(impl_->streams)) {
    g_object_ref(stream.message);
    soup_message_body_complete(soup_server_message_get_response_body(stream.message));
    soup_server_message_unpause(stream.message);
    impl_->DropStream(stream.message);
    g_object_unref(stream.message);
  }
  if (impl_->keepalive) {
    g_source_destroy(impl_->keepalive);
    g_source_unref(impl_->keepalive);
    impl_->keepalive = nullptr;
  }
  if (impl_->server) {
    soup_server_disconnect(impl_->server);
    g_object_unref(impl_->server);
    impl_->server = nullptr;
  }
  if (!impl_->socket_path.empty()) {
    ::unlink(impl_->socket_path.c_str());
    impl_->socket_path.clear();
  }
}

std::optional<ApiIdentity> ApiServer::Authenticate(const std::optional<std::string>& header,
                                                   std::string* problem) const {
  if (!header) {
    *problem = "no Authorization header: send \"Authorization: Bearer TOKEN\"";
    return std::nullopt;
  }
  const std::string& value = *header;
  // RFC 6750: the scheme is case-insensitive; the token is token68 characters.
  if (value.size() < 8 || g_ascii_strncasecmp(value.c_str(), "Bearer ", 7) != 0) {
    *problem = "malformed Authorization header: expected \"Bearer TOKEN\"";
    return std::nullopt;
  }
  std::string token = value.substr(7);
  while (!token.empty() && token.front() == ' ') token.erase(0, 1);
  while (!token.empty() && token.back() == ' ') token.pop_back();
  const bool token68 =
      !token.empty() && token.size() <= 512 && std::all_of(token.begin(), token.end(), [](char c) {
        return g_ascii_isalnum(c) || std::string_view("-._~+/=").find(c) != std::string_view::npos;
      });
  if (!token68) {
    *problem = "malformed Authorization header: the token has characters a token cannot have";
    return std::nullopt;
  }
  // Compare against every user in constant time, so timing tells nothing about the tokens.
  const std::string digest = Sha256Raw(token);
  const User* found = nullptr;
  for (const User& user : users_) {
    bool match = user.token_sha256.size() == digest.size() &&
                 CRYPTO_memcmp(user.token_sha256.data(), digest.data(), digest.size()) == 0;
    if (match) found = &user;
  }
  if (!found) {
    if (auto session = sessions_->Find(token)) return ApiIdentity{session->user, session->role};
    *problem =
        "the token is not known (check the token, sign in again if it was a PIN session, or ask "
        "for a [user] in the configuration)";
    return std::nullopt;
  }
  return ApiIdentity{found->name, found->role};
}

ApiResponse ApiServer::Audited(const RawApiRequest& raw, const std::string& action,
                               const std::optional<ApiIdentity>& who, bool audit_success,
                               ApiResponse response) {
  const bool success = response.status < 400;
  if (success && !audit_success) return response;
  storage::AuditEvent event;
  event.actor = who ? who->user : "-";
  event.role = who ? RoleName(who->role) : "-";
  event.action = Truncated(action, kMaxAuditTargetBytes);
  event.target =
      Truncated(raw.path + (raw.query.empty() ? "" : "?" + raw.query), kMaxAuditTargetBytes);
  event.outcome = success ? "ok" : response.status < 500 ? "refused" : "error";
  event.status = response.status;
  event.detail = Truncated(response.audit_detail, 1024) +
                 (response.audit_detail.empty() ? "" : " ") + "(via " + raw.transport + ")";
  auto written = audit_.Append(event);
  if (written.ok()) return response;
  if (!success) return response;  // the refusal still stands; the failure is logged by AuditLog
  // The change was made but cannot be proven: say so rather than answer as if all were well.
  return ApiResponse::Error(500, "audit-failed",
                            "the request was carried out but could not be recorded in the audit "
                            "log: " +
                                written.message());
}

ApiResponse ApiServer::Handle(const RawApiRequest& raw) {
  std::optional<Role> stream_role;
  return HandleRequest(raw, &stream_role);
}

ApiResponse ApiServer::HandleRequest(const RawApiRequest& raw, std::optional<Role>* stream_role) {
  // The in-car screen's files and its PIN sign-in come before any token (daemon/ui_files.h).
  if (ui_dir_ && raw.method == "GET" &&
      (raw.path == "/" || raw.path == "/ui" || raw.path.rfind("/ui/", 0) == 0)) {
    return UiFile(*ui_dir_, raw.path);
  }
  if (raw.path == "/v1/session" && raw.method == "POST") return SignIn(raw);
  std::string problem;
  std::optional<ApiIdentity> who = Authenticate(raw.authorization, &problem);
  const std::string unmatched = raw.method + " " + raw.path;
  if (!who)
    return Audited(raw, unmatched, who, false, ApiResponse::Error(401, "unauthorized", problem));
  if (raw.path == "/v1/session" && raw.method == "DELETE") return SignOut(raw, *who);

  // Route: decode each segment, then match.
  std::vector<std::string> segments;
  bool path_ok = !raw.path.empty() && raw.path[0] == '/' && raw.path.size() <= 2048;
  if (path_ok) {
    for (const std::string& encoded : SplitPath(raw.path)) {
      std::string decoded;
      if (!PercentDecode(encoded, false, &decoded) || decoded.empty() || !IsValidUtf8(decoded) ||
          decoded.find('/') != std::string::npos || decoded == "." || decoded == "..") {
        path_ok = false;
        break;
      }
      segments.push_back(std::move(decoded));
    }
  }
  std::vector<const RouteEntry*> on_path;
  std::map<std::string, std::string> params;
  const RouteEntry* route = nullptr;
  for (const RouteEntry& candidate : routes_) {
    if (!path_ok || candidate.segments.size() != segments.size()) continue;
    std::map<std::string, std::string> bound;
    bool match = true;
    for (size_t i = 0; i < segments.size() && match; ++i) {
      const std::string& part = candidate.segments[i];
      if (part.size() > 2 && part.front() == '{' && part.back() == '}') {
        bound[part.substr(1, part.size() - 2)] = segments[i];
      } else {
        match = part == segments[i];
      }
    }
    if (!match) continue;
    on_path.push_back(&candidate);
    if (!route && candidate.method == raw.method) route = &candidate, params = std::move(bound);
  }
  if (on_path.empty()) {
    return Audited(raw, unmatched, who, false,
                   ApiResponse::Error(404, "not-found",
                                      "no such path: " + Truncated(raw.path, 200) +
                                          " (the routes are listed in docs/control-api.md)"));
  }
  if (!route) {
    std::string allow;
    for (const RouteEntry* r : on_path) {
      if (allow.find(r->method) == std::string::npos)
        allow += (allow.empty() ? "" : ", ") + r->method;
    }
    ApiResponse response = ApiResponse::Error(
        405, "method-not-allowed",
        Truncated(raw.method, 20) + " is not allowed on " + on_path[0]->pattern + "; use " + allow);
    response.headers.emplace_back("Allow", allow);
    return Audited(raw, unmatched, who, false, std::move(response));
  }
  const std::string action = route->method + " " + route->pattern;
  if (!route->roles.count(who->role)) {
    return Audited(
        raw, action, who, false,
        ApiResponse::Error(403, "forbidden",
                           std::string("role ") + RoleName(who->role) + " may not call " + action +
                               "; allowed: " + RoleList(route->roles)));
  }

  ApiRequest request;
  request.method = raw.method;
  request.params = std::move(params);
  request.who = *who;
  request.transport = raw.transport;
  for (const std::string& segment : segments) request.path += "/" + segment;
  if (!ParseQuery(raw.query, &request.query, &problem)) {
    return Audited(raw, action, who, false, ApiResponse::Error(400, "bad-request", problem));
  }
  if (raw.body.size() > kMaxApiBodyBytes) {
    return Audited(
        raw, action, who, false,
        ApiResponse::Error(413, "too-large",
                           "the body is " + std::to_string(raw.body.size()) + " bytes; at most " +
                               std::to_string(kMaxApiBodyBytes) + " are accepted"));
  }
  if (!raw.body.empty()) {
    std::string type = raw.content_type.value_or("");
    type = type.substr(0, type.find(';'));
    while (!type.empty() && type.back() == ' ') type.pop_back();
    if (g_ascii_strcasecmp(type.c_str(), "application/json") != 0) {
      return Audited(
          raw, action, who, false,
          ApiResponse::Error(415, "unsupported-media-type",
                             "the body must be JSON sent as Content-Type: application/json, got " +
                                 (raw.content_type ? "\"" + Truncated(*raw.content_type, 60) + "\""
                                                   : std::string("no Content-Type"))));
    }
    if (NestingDepth(raw.body) > kMaxNestingDepth) {
      return Audited(raw, action, who, false,
                     ApiResponse::Error(400, "bad-request",
                                        "the JSON body is nested more than " +
                                            std::to_string(kMaxNestingDepth) + " levels deep"));
    }
    json body = json::parse(raw.body, nullptr, /*allow_exceptions=*/false);
    if (body.is_discarded()) {
      return Audited(raw, action, who, false,
                     ApiResponse::Error(400, "malformed-json",
                                        "the body is not valid JSON (or not valid UTF-8)"));
    }
    if (!body.is_object()) {
      return Audited(raw, action, who, false,
                     ApiResponse::Error(
                         400, "bad-request",
                         std::string("the body must be a JSON object, got ") + body.type_name()));
    }
    request.body = std::move(body);
  }

  ApiResponse response;
  try {
    response = route->handler(request);
  } catch (const std::exception& e) {
    base::LogError("control API: the handler of " + action + " failed: " + e.what(),
                   {{"API_ROUTE", action}});
    response = ApiResponse::Error(
        500, "internal",
        "internal error while handling " + action + " (the cause is in the daemon's log)");
  } catch (...) {
    base::LogError("control API: the handler of " + action + " threw a non-exception",
                   {{"API_ROUTE", action}});
    response = ApiResponse::Error(
        500, "internal",
        "internal error while handling " + action + " (the cause is in the daemon's log)");
  }
  if (response.status < 100 || response.status > 599) {
    base::LogError("control API: the handler of " + action + " returned status " +
                   std::to_string(response.status));
    response = ApiResponse::Error(500, "internal", "internal error while handling " + action);
  }
  if (response.status >= 400 && !response.body.contains("error")) {
    // A handler that forgot the error format still gives the client something to act on.
    response.body =
        json{{"error", response.audit_detail.empty() ? "request refused" : response.audit_detail},
             {"code", "error"}};
  }
  if (route->pattern == "/v1/events" && response.status == 200) *stream_role = who->role;
  return Audited(raw, action, who, route->audit == AuditPolicy::kAlways, std::move(response));
}

ApiResponse ApiServer::ListAudit(const ApiRequest& request) {
  int64_t since = 0, limit = 0;
  if (auto error = QueryInt(request, "since", 0, INT64_MAX, 0, &since)) return *error;
  if (auto error = QueryInt(request, "limit", 1, 1000, 200, &limit)) return *error;
  for (const auto& [key, unused] : request.query) {
    if (key != "since" && key != "limit") {
      return ApiResponse::Error(
          400, "bad-request",
          "unknown query parameter \"" + Truncated(key, 64) + "\" (known: since, limit)");
    }
  }
  auto entries = audit_.ReadSince(since, static_cast<size_t>(limit));
  if (!entries.ok()) return ApiResponse::Error(500, "internal", entries.message());
  json list = json::array();
  for (const storage::AuditEntry& entry : *entries) {
    list.push_back(json{{"seq", entry.seq},
                        {"utc", base::FormatUtcNs(entry.utc_ns)},
                        {"actor", entry.event.actor},
                        {"role", entry.event.role},
                        {"action", entry.event.action},
                        {"target", entry.event.target},
                        {"outcome", entry.event.outcome},
                        {"status", entry.event.status},
                        {"detail", entry.event.detail},
                        {"hash", entry.hash}});
  }
  ApiResponse response;
  response.body = json{{"entries", list}, {"last_seq", audit_.last_seq()}};
  response.audit_detail =
      std::to_string(list.size()) + " entries after seq " + std::to_string(since);
  return response;
}

}  // namespace patrolrec::daemon
