# The gateway, the mock and ismsctl in one image, on Debian 12.
# Build: docker build -t ismscode-harness .   (the stack: docker-compose.yml)
#
# Stage 1 builds with the same script and build command as CI (scripts/install-deps,
# then the default CMake preset), without the test suites.
FROM debian:12 AS build
WORKDIR /src
COPY . .
RUN scripts/install-deps \
 && cmake --preset default -DISMSCODE_BUILD_TESTS=OFF -DISMSCODE_BUILD_BENCH=OFF >/dev/null \
 && cmake --build --preset default -j "$(nproc)" \
 && cmake --install build --prefix /opt/ismscode

# Stage 2: the binaries, their shared libraries, and nothing to build with; not root.
FROM debian:12-slim
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends \
      libabsl20220623 libbrotli1 libc-ares2 libcpp-httplib0.11 libgrpc++1.51 libgrpc29 libhiredis0.14 \
      libprotobuf32 libprometheus-cpp-core1.0 libre2-9 libssl3 zlib1g ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin ismscode
COPY --from=build /opt/ismscode/bin/ /usr/local/bin/
COPY --from=build /opt/ismscode/lib/ /usr/local/lib/
RUN ldconfig
USER ismscode
# gRPC, Prometheus metrics, the mock.
EXPOSE 50051 9464 7700
# The gateway with its bundled mock, reachable from outside the container.
CMD ["ismscode-gateway", "--listen", "0.0.0.0:50051", "--metrics-listen", "0.0.0.0:9464"]
