// ismscode-signup-app: the demo app under test (see signup_app.h).
#include <CLI/CLI.hpp>
#include <csignal>
#include <fstream>
#include <iostream>

#include "signup_app.h"

int main(int argc, char** argv) {
  ismscode::examples::SignupAppOptions options;
  std::string sms_token_file, port_file;
  CLI::App cli("DemoApp: a signup page that texts a code, for the examples' tests.");
  cli.add_option("--host", options.host, "address to listen on")->capture_default_str();
  cli.add_option("--port", options.port, "port; 0 picks one")->capture_default_str();
  cli.add_option("--port-file", port_file, "write the bound port to this file");
  cli.add_option("--sms-url", options.sms_url,
                 "SMS provider endpoint taking POST {\"to\",\"from\",\"text\"}")
      ->capture_default_str();
  cli.add_option("--sms-token-file", sms_token_file,
                 "bearer token for the SMS provider (e.g. the mock's admin token)");
  cli.add_option("--sender", options.sender, "the SMS's sender name")->capture_default_str();
  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return cli.exit(e);
  }
  if (!sms_token_file.empty()) {
    std::ifstream in(sms_token_file);
    if (!in || !std::getline(in, options.sms_token) || options.sms_token.empty()) {
      std::cerr << "ismscode-signup-app: --sms-token-file: cannot read a token from "
                << sms_token_file << "\n";
      return 2;
    }
  }

  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);  // before any thread starts

  std::string error;
  auto app = ismscode::examples::SignupApp::Start(options, &error);
  if (!app) {
    std::cerr << "ismscode-signup-app: " << error << "\n";
    return 1;
  }
  if (!port_file.empty()) std::ofstream(port_file) << app->port() << "\n";
  std::cout << "{\"url\":\"" << app->url() << "\",\"sms_url\":\"" << options.sms_url << "\"}"
            << std::endl;
  int signal = 0;
  sigwait(&stop, &signal);
  app->Stop();
  return 0;
}
