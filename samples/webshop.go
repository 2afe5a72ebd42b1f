package samples

import (
	"context"
	"encoding/json"

	"github.com/fusionize/fusionize/fusion/apps"
	"github.com/fusionize/fusionize/runtime"
	"github.com/fusionize/fusionize/samples/work"
)

// ShopRequest is the web shop's request: a page view by a user, with the cart and checkout
// actions the page triggers.
type ShopRequest struct {
	User     string `json:"user"`
	Product  string `json:"product,omitempty"`  // add this product to the cart
	Checkout bool   `json:"checkout,omitempty"` // check the cart out
	Empty    bool   `json:"empty,omitempty"`    // empty the cart
}

// WebShop is the paper's web shop (17 tasks, after the BeFaaS web shop, entry frontend). The
// frontend renders a page from supportedcurrencies, listproducts, currency, getads, getcart
// and listrecommendations (sync) and starts checkout, addcartitem and emptycart (async) as the
// request asks. checkout calls getcart, listproducts, currency, shipmentquote (sync) and
// shiporder, email, emptycart (async); getcart reads cartkvstorage (sync) and addcartitem
// writes it (async). DESIGN.md lists those edges; the three tasks it names no caller for are
// called as BeFaaS does, so none is dead code: frontend → getproduct and searchproducts, and
// checkout → payment, all sync (the graph is fusion/apps.WebShopGraph).
func WebShop() Sample {
	app := runtime.NewApp("webshop")
	app.Register("frontend", shopFrontend)
	app.Register("supportedcurrencies", leaf(1, 0, "EUR,USD,JPY"))
	app.Register("listproducts", leaf(3, 0, "products"))
	app.Register("currency", leaf(2, 0, "1.08"))
	app.Register("getads", leaf(1, 0, "ad"))
	app.Register("listrecommendations", leaf(4, 0, "recommendations"))
	app.Register("getproduct", leaf(1, 0, "product"))
	app.Register("searchproducts", leaf(3, 0, "results"))
	app.Register("payment", leaf(2, 0, "paid"))
	app.Register("shipmentquote", leaf(2, 0, "quote"))
	app.Register("shiporder", leaf(2, 10, "shipped"))
	app.Register("email", leaf(1, 20, "sent"))
	app.Register("getcart", shopGetcart)
	app.Register("addcartitem", shopAddcartitem)
	app.Register("emptycart", leaf(1, 0, "emptied"))
	app.Register("cartkvstorage", shopCartkvstorage)
	app.Register("checkout", shopCheckout)
	return Sample{
		App:     app,
		Graph:   apps.WebShopGraph(),
		Request: []byte(`{"user":"u-7","product":"p-42","checkout":true,"empty":true}`),
	}
}

// leaf is a web shop task that calls nothing: CPU work, a wait for I/O, a fixed result.
func leaf(cpuMS, ioMS float64, result string) runtime.TaskFunc {
	return func(ctx context.Context, in []byte) ([]byte, error) {
		work.CPU(ctx, cpuMS, 1)
		if err := work.IO(ctx, ioMS); err != nil {
			return nil, err
		}
		return json.Marshal(result)
	}
}

// callAll calls the tasks synchronously in order and returns their results by task.
func callAll(ctx context.Context, in []byte, tasks ...string) (map[string]json.RawMessage, error) {
	out := map[string]json.RawMessage{}
	for _, t := range tasks {
		b, err := runtime.Call(ctx, t, in)
		if err != nil {
			return nil, err
		}
		out[t] = b
	}
	return out, nil
}

// shopFrontend is the web shop task frontend: it renders a page from the catalogue, currency,
// ads, cart and recommendations (sync) and starts checkout, adding to the cart or emptying it
// (async) as the request asks.
func shopFrontend(ctx context.Context, in []byte) ([]byte, error) {
	r, err := decode[ShopRequest](in)
	if err != nil {
		return nil, err
	}
	work.CPU(ctx, 2, 1)
	page, err := callAll(ctx, in, "supportedcurrencies", "listproducts", "currency", "getads", "getcart", "listrecommendations", "getproduct", "searchproducts")
	if err != nil {
		return nil, err
	}
	for _, a := range []struct {
		on   bool
		task string
	}{{r.Checkout, "checkout"}, {r.Product != "", "addcartitem"}, {r.Empty, "emptycart"}} {
		if a.on {
			if err := runtime.CallAsync(ctx, a.task, in); err != nil {
				return nil, err
			}
		}
	}
	return json.Marshal(page)
}

// shopGetcart is the web shop task getcart: it reads the cart from cartkvstorage (sync).
func shopGetcart(ctx context.Context, in []byte) ([]byte, error) {
	return runtime.Call(ctx, "cartkvstorage", in)
}

// shopAddcartitem is the web shop task addcartitem: it writes to the cart through cartkvstorage
// (async).
func shopAddcartitem(ctx context.Context, in []byte) ([]byte, error) {
	return nil, runtime.CallAsync(ctx, "cartkvstorage", in)
}

// shopCartkvstorage is the web shop task cartkvstorage: it stores a cart item, or reads the
// cart.
func shopCartkvstorage(ctx context.Context, in []byte) ([]byte, error) {
	r, err := decode[ShopRequest](in)
	if err != nil {
		return nil, err
	}
	if r.Product != "" {
		return []byte(`"added"`), work.Store.Put(ctx, "cart/"+r.User, []byte(r.Product))
	}
	cart, err := work.Store.Get(ctx, "cart/"+r.User)
	if err != nil {
		return nil, err
	}
	return json.Marshal(string(cart))
}

// shopCheckout is the web shop task checkout: it prices the cart (sync calls) and ships, mails
// and empties it (async).
func shopCheckout(ctx context.Context, in []byte) ([]byte, error) {
	order, err := callAll(ctx, in, "getcart", "listproducts", "currency", "shipmentquote", "payment")
	if err != nil {
		return nil, err
	}
	for _, t := range []string{"shiporder", "email", "emptycart"} {
		if err := runtime.CallAsync(ctx, t, in); err != nil {
			return nil, err
		}
	}
	return json.Marshal(order)
}
