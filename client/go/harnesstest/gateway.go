package harnesstest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	startTimeout = 60 * time.Second
	stopTimeout  = 10 * time.Second
)

var subdirOf = map[string]string{
	"ismscode-gateway":    "server",
	"ismscode-mock":       "mock",
	"ismscode-signup-app": "examples/signup-app",
}

// FindBinary is name in $ISMSCODE_BIN_DIR (a build tree or an install's bin/), on PATH,
// or in the build/ tree of the checkout this package sits in; "" when it is nowhere.
func FindBinary(name string) string {
	sub := subdirOf[name]
	var candidates []string
	if dir := os.Getenv("ISMSCODE_BIN_DIR"); dir != "" {
		candidates = append(candidates, filepath.Join(dir, name), filepath.Join(dir, sub, name))
	}
	if found, err := exec.LookPath(name); err == nil {
		candidates = append(candidates, found)
	}
	if _, file, _, ok := runtime.Caller(0); ok { // client/go/harnesstest -> the checkout
		if dir, err := filepath.EvalSymlinks(filepath.Dir(file)); err == nil {
			candidates = append(candidates, filepath.Join(dir, "..", "..", "..", "build", sub, name))
		}
	}
	for _, c := range candidates {
		if info, err := os.Stat(c); err == nil && !info.IsDir() && info.Mode()&0o111 != 0 {
			return c
		}
	}
	return ""
}

// Gateway is an ismscode-gateway with its bundled mock, started by StartGateway.
type Gateway struct {
	Address string // HOST:PORT of its gRPC server
	MockURL string // the bundled mock's base URL (its control API is under /_mock/v1)
	cmd     *exec.Cmd
	exited  chan struct{}
	release chan struct{}
	logMu   sync.Mutex
	log     []string // its last lines
}

// StartGateway starts ismscode-gateway with its bundled mock (scenario, default ci-fast)
// on free loopback ports, open (no token) and taking caller keys. It dies with this
// process, even a killed one (PR_SET_PDEATHSIG).
func StartGateway(scenario string, extraArgs ...string) (*Gateway, error) {
	binary := FindBinary("ismscode-gateway")
	if binary == "" {
		return nil, errors.New("harnesstest: no gateway to use: set ISMSCODE_HARNESS_ADDR, or put " +
			"ismscode-gateway on PATH or set ISMSCODE_BIN_DIR (or build the repo)")
	}
	if scenario == "" {
		scenario = "ci-fast"
	}
	args := append([]string{"--listen", "127.0.0.1:0", "--metrics-listen", "off",
		"--allow-caller-keys", "--mock-scenario", scenario, "--poll-interval-ms", "250",
		"--no-call-logs"}, extraArgs...)
	g := &Gateway{cmd: exec.Command(binary, args...), exited: make(chan struct{}),
		release: make(chan struct{})}
	dieWithParent(g.cmd)
	stderr, err := g.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	// The kernel sends the death signal when the *thread* that started the child ends, so
	// it is started from a locked thread that lives until Stop.
	started := make(chan error)
	go func() {
		runtime.LockOSThread()
		started <- g.cmd.Start()
		<-g.release
	}()
	if err := <-started; err != nil {
		close(g.release)
		return nil, fmt.Errorf("harnesstest: cannot start %s: %w", binary, err)
	}

	type ready struct{ address, mock string }
	readyc := make(chan ready, 1)
	logDone := make(chan struct{})
	go func() {
		// Read stderr to its end, so the gateway never blocks on a full pipe, keeping its
		// last lines for the error when it fails to start or dies early.
		defer close(logDone)
		lines := bufio.NewScanner(stderr)
		lines.Buffer(make([]byte, 64*1024), 1024*1024)
		var mock string
		announced := false
		for lines.Scan() {
			g.keep(lines.Text())
			if announced {
				continue
			}
			var entry struct {
				Msg  string `json:"msg"`
				Mock string `json:"mock"`
				Port int    `json:"port"`
			}
			if json.Unmarshal(lines.Bytes(), &entry) != nil {
				continue
			}
			if strings.Contains(entry.Msg, "bundled mock") && entry.Mock != "" {
				mock = strings.TrimSuffix(entry.Mock, "/api/v3")
			}
			if strings.Contains(entry.Msg, "listening") && entry.Port != 0 {
				announced = true
				readyc <- ready{fmt.Sprintf("127.0.0.1:%d", entry.Port), mock}
			}
		}
		io.Copy(io.Discard, stderr) // a line too long for the scanner
	}()
	go func() {
		<-logDone
		g.cmd.Wait()
		close(g.exited)
	}()

	select {
	case r := <-readyc:
		g.Address, g.MockURL = r.address, r.mock
		return g, nil
	case <-g.exited:
		close(g.release)
		return nil, fmt.Errorf("harnesstest: the gateway exited before listening:\n%s", g.tail())
	case <-time.After(startTimeout):
		g.Stop()
		return nil, fmt.Errorf("harnesstest: the gateway did not listen within %v:\n%s", startTimeout, g.tail())
	}
}

func (g *Gateway) keep(line string) {
	g.logMu.Lock()
	defer g.logMu.Unlock()
	g.log = append(g.log, line)
	if len(g.log) > 50 {
		g.log = g.log[len(g.log)-50:]
	}
}

func (g *Gateway) tail() string {
	g.logMu.Lock()
	defer g.logMu.Unlock()
	return strings.Join(g.log, "\n")
}

// Stop stops the gateway: SIGTERM, then SIGKILL after 10 s. When it had died on its own
// it says so, with its last lines (the tests' GATEWAY_UNAVAILABLE errors then have a
// cause); otherwise it returns "".
func (g *Gateway) Stop() string {
	died := ""
	select {
	case <-g.exited:
		died = fmt.Sprintf("harnesstest: the gateway exited early (%v); its last lines:\n%s",
			g.cmd.ProcessState, g.tail())
	default:
		g.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-g.exited:
		case <-time.After(stopTimeout):
			g.cmd.Process.Kill()
			<-g.exited
		}
	}
	select {
	case <-g.release:
	default:
		close(g.release)
	}
	return died
}

// CreateMockAccount makes a fresh account on the mock (its control API at
// mockURL/_mock/v1) and returns its key: a client using it as its caller key shares no
// balance, stock or rate budget with any other test.
func CreateMockAccount(ctx context.Context, mockURL string) (string, error) {
	b := make([]byte, 6)
	rand.Read(b)
	key := "go-" + hex.EncodeToString(b)
	body, _ := json.Marshal(map[string]interface{}{"key": key, "balance": 1000, "rate_limit": "off"})
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, mockURL+"/_mock/v1/accounts", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("cannot create a mock account at %s: %w", mockURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		text, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return "", fmt.Errorf("cannot create a mock account at %s: %d %s", mockURL, resp.StatusCode, text)
	}
	return key, nil
}
