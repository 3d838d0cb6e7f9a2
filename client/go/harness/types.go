package harness

import "time"

// Country is one the upstream sells numbers in.
type Country struct {
	Code       string // ISO 3166-1 alpha-2, e.g. "US"
	Name       string
	DialPrefix string // e.g. "+1"
}

// Number is an acquired phone number.
type Number struct {
	ID        string // the id AwaitCode takes
	Phone     string // E.164, e.g. "+12025550123"
	Country   string // the country it came from (may be a fallback)
	Service   string
	ExpiresAt time.Time // the end of its reservation
	Attempts  int       // upstream purchase requests the call made (0 when replayed)
	Replayed  bool      // an earlier call with the same request id bought it
	RequestID string    // repeat with it after UPSTREAM_TIMEOUT: nothing is bought twice
}

// Sms is a text message the number received.
type Sms struct {
	From       string
	Text       string
	ReceivedAt time.Time
}

// Code is a code found in an SMS.
type Code struct {
	Code     string // normalised: "583-920" becomes "583920"
	RawMatch string // as it appears in the text
	Sms      Sms
}

// Heartbeat is the gateway's progress report while it waits (every few seconds).
type Heartbeat struct {
	Polls             int // upstream polls for this number so far
	NextPollAt        time.Time
	ExpiresAt         time.Time // the number's reservation end
	LastUpstreamError string    // empty when the last poll succeeded
	WaitingForBudget  bool      // the key's rate budget holds the next poll back
}

// Event is one event of an AwaitCode stream: a *Heartbeat or a *Code.
type Event interface{ isEvent() }

func (*Heartbeat) isEvent() {}
func (*Code) isEvent()      {}
