// A signup test against the demo app (examples/signup-app), as a QA engineer writes it
// with harnesstest: get a number, sign up with it, read the code the app texted,
// verify. The app: $SIGNUP_APP_URL, or the demo app started here, texting through the
// harness's mock (run with ISMSCODE_HARNESS_SCENARIO=app-sms: numbers get no SMS but the
// app's).
package signup

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/ismscode/ismscode-harness/client/go/harness"
	"github.com/ismscode/ismscode-harness/client/go/harnesstest"
)

func TestMain(m *testing.M) { os.Exit(harnesstest.Run(m)) }

// appURL is the app under test: $SIGNUP_APP_URL, or the demo app started beside the mock.
func appURL(t *testing.T) string {
	if url := os.Getenv("SIGNUP_APP_URL"); url != "" {
		return url
	}
	binary := harnesstest.FindBinary("ismscode-signup-app")
	mockURL := harnesstest.CurrentSession(t).MockURL
	if binary == "" || mockURL == "" {
		t.Skip("set SIGNUP_APP_URL, or build the demo app and run against a mock")
	}
	app := exec.Command(binary, "--port", "0", "--sms-url", mockURL+"/_mock/v1/sms")
	stdout, _ := app.StdoutPipe()
	if err := app.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app.Process.Kill(); app.Wait() })
	var first struct{ URL string } // its first line: {"url": ...}
	if err := json.NewDecoder(bufio.NewReader(stdout)).Decode(&first); err != nil {
		t.Fatalf("the demo app did not start: %v", err)
	}
	return first.URL
}

func post(t *testing.T, url string, body, reply interface{}) {
	data, _ := json.Marshal(body)
	resp, err := http.Post(url, "application/json", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(reply); err != nil {
		t.Fatalf("%s: %v", url, err)
	}
}

func TestNewUserVerifiesTheirPhone(t *testing.T) {
	app := appURL(t)
	number := harnesstest.Acquire(t, "US", "demoapp")

	var signup struct{ Status string }
	post(t, app+"/signup", map[string]string{"phone": number.Phone}, &signup)
	if signup.Status != "sent" {
		t.Fatalf("signup: %+v", signup)
	}
	code := harnesstest.AwaitCode(t, number, harness.AwaitOptions{Timeout: time.Minute})

	var verify struct {
		Verified bool
		Reason   string
	}
	post(t, app+"/verify", map[string]string{"phone": number.Phone, "code": code.Code}, &verify)
	if !verify.Verified {
		t.Fatalf("verify with %s: %+v", code.Code, verify)
	}
}
