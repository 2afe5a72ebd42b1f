package fusion

// The platform-facing domain types: what a deployed setup is, and what reading its logs
// returns. Adapters (platform/lambda) and the activities share them.

import "time"

// Deployment is one setup of an app deployed on the platform: a function per group, and
// (when Version is set) a published version of the app's entry function that runs the
// setup's entry group and that the entry alias can route to.
type Deployment struct {
	App string `json:"app"`
	// Setup crosses JSON as its canonical text form; Setup.ID() names it.
	Setup Setup  `json:"setup"`
	Entry string `json:"entry"` // the entry task, root of the group that outside requests reach
	// Version of the entry function that runs this setup ("" until deployed).
	Version string `json:"version,omitempty"`
	// Functions are the names of the setup's group functions, sorted.
	Functions []string `json:"functions,omitempty"`
	// LogGroup is the one log group all of the setup's functions log to; "" when each logs
	// to its own (a setup deployed before apps had one group).
	LogGroup string `json:"logGroup,omitempty"`
}

// DeployRequest asks for one setup of an app to be deployed.
type DeployRequest struct {
	App   string `json:"app"`
	Setup Setup  `json:"setup"`
	Entry string `json:"entry"`
	// Arch is the architecture the app is configured for; a Deployer whose bundle is built
	// for another refuses. "" takes the bundle's.
	Arch Arch `json:"arch,omitempty"`
}

// TraceQuery selects the logs of some deployments of an app in a time window.
type TraceQuery struct {
	App         string       `json:"app"`
	Deployments []Deployment `json:"deployments"`
	Start       time.Time    `json:"start"`
	End         time.Time    `json:"end"`
}

// Traces are the trace records and REPORT lines found.
type Traces struct {
	Records []TraceRecord `json:"records"`
	Reports []Report      `json:"reports"`
}

// PermanentError marks an error of a platform adapter (deploying, routing, reading traces)
// as one that retrying cannot fix (access denied, invalid configuration): the activity that
// called it fails without retries.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }
