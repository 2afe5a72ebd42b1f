package runtime_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/fusionize/fusionize/fusion"
	"github.com/fusionize/fusionize/runtime"
	"github.com/fusionize/fusionize/runtime/runtimetest"
)

type Order struct {
	Item string `json:"item"`
	Qty  int    `json:"qty"`
}

type Quote struct {
	Total float64 `json:"total"`
}

// A whole app: "checkout" prices an order with a sync call to "price" and sends a receipt with
// an async call to "email". The same code runs with every call inline or remote; the setup
// decides. In a bundle, main would end with app.Main(); here runtimetest serves the app behind
// a Lambda-compatible HTTP server with "checkout" and "price" fused and "email" on its own.
func Example() {
	app := runtime.NewApp("shop")
	app.Register("checkout", runtime.JSON(func(ctx context.Context, o Order) (Quote, error) {
		q, err := runtime.CallJSON[Quote](ctx, "price", o)
		if err != nil {
			return Quote{}, err
		}
		return q, runtime.CallAsyncJSON(ctx, "email", q)
	}))
	app.Register("price", runtime.JSON(func(ctx context.Context, o Order) (Quote, error) {
		return Quote{Total: 2.5 * float64(o.Qty)}, nil
	}))
	app.Register("email", runtime.JSON(func(ctx context.Context, q Quote) (struct{}, error) {
		return struct{}{}, nil
	}))

	setup := fusion.MustParseSetup("checkout+price@512,email@128")
	srv, err := runtimetest.NewServer(app, setup, "checkout")
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	out, err := srv.Invoke(context.Background(), []byte(`{"item":"tea","qty":4}`))
	fmt.Println(string(out), err)

	traces, _ := srv.Traces()
	for _, t := range traces {
		var calls []string
		for _, c := range t.Calls {
			where := "local"
			if c.Remote {
				where = "remote"
			}
			calls = append(calls, fmt.Sprintf("%s→%s %s %s", c.Caller, c.Callee, c.Mode, where))
		}
		line := fmt.Sprintf("function %s ran %d task(s), made %d call(s) %s", strings.TrimPrefix(t.Function, "shop-"+setup.ID()+"-"), len(t.Tasks), len(calls), strings.Join(calls, ", "))
		fmt.Println(strings.TrimSpace(line))
	}
	// Unordered output:
	// {"total":10} <nil>
	// function checkout ran 2 task(s), made 2 call(s) checkout→price sync local, checkout→email async remote
	// function email ran 1 task(s), made 0 call(s)
}
