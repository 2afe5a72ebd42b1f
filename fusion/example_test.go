package fusion_test

import (
	"fmt"

	"github.com/fusionize/fusionize/fusion"
	"github.com/fusionize/fusionize/fusion/apps"
)

func ExampleParseSetup() {
	s, err := fusion.ParseSetup("I+CW+SE@256,CT@1024,CS+CSL+CSA@128")
	if err != nil {
		panic(err)
	}
	fmt.Println(s, s.ID())
	fmt.Println(s.Validate(apps.IoTGraph()))

	_, err = fusion.ParseSetup("I+CW@256,CT@64")
	fmt.Println(err)
	// Output:
	// CS+CSA+CSL@128,CT@1024,I+CW+SE@256 1bc4fc9fce84
	// group "CT": CT→AS async is remote, but no group is rooted at "AS"
	// group "I": I→CA async is remote, but no group is rooted at "CA"
	// setup:1:13: memory 64 MB is outside Lambda's 128–10240 MB
	//  | I+CW@256,CT@64
	//  | ............^
}

func ExampleBuildProfile() {
	// Traces and REPORT lines of 200 requests of the tree app, all remote at 128 MB, from
	// the ground-truth simulator (in production: parsed from CloudWatch Logs with
	// ParseTraceLine and ParseReport).
	app := apps.Tree()
	setup := fusion.AllRemote(app.Graph, 128)
	records, reports := app.Measure(setup, 200, 1)

	p := fusion.BuildProfile(app.Graph, records, reports)
	b, _ := p.Task("B")
	fmt.Printf("B's own time at 128 MB: median %.0f ms\n", b.Sizes[0].Self.Median)
	fmt.Printf("remote sync overhead: median %.0f ms\n", p.RemoteSync.Median)
	st, _ := p.Setup(setup.ID())
	fmt.Printf("%d requests, median latency %.0f ms, cost %.2e $/request\n", st.Requests, st.Latency.Median, st.Cost.Mean)
	// Output:
	// B's own time at 128 MB: median 654 ms
	// remote sync overhead: median 33 ms
	// 200 requests, median latency 2125 ms, cost 2.87e-05 $/request
}
