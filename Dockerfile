# tune: the service, its runners and the CLI in one image.
#
#   docker build -t tune .
#   docker run --rm -p 8080:8080 tune                      # embedded store in /data
#   docker compose up --scale runner=4                     # Postgres + service + 4 runners
#
# Runners of exec studies need the study's training stack: build on this
# image (FROM tune, then install Python, PyTorch and your code).

# Build with cgo so that the mnist-mlp workload can load Debian's OpenBLAS
# at run time; without the library it falls back to pure-Go BLAS.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN go build -trimpath -ldflags="-s -w" -o /out/tune ./cmd/tune \
 && mkdir -p /out/mnist \
 && cp "$(go env GOMODCACHE)"/github.com/petar/\!go\!m\!n\!i\!s\!t@*/data/*.gz /out/mnist/

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libopenblas0 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /data --create-home tune
COPY --from=build /out/tune /usr/local/bin/tune
# Real MNIST for the built-in workload, from the GoMNIST module.
COPY --from=build /out/mnist /usr/share/tune/mnist
ENV TUNE_ADDR=0.0.0.0:8080 \
    TUNE_DATA_DIR=/data \
    TUNE_MNIST_DIR=/usr/share/tune/mnist
USER tune
WORKDIR /data
VOLUME /data
EXPOSE 8080
ENTRYPOINT ["tune"]
CMD ["serve"]
