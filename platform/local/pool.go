package local

// Instances as a pool per function: acquiring a warm instance or starting one within the
// concurrency limits, releasing, evicting and reaping idle ones, and executing an invocation
// on one.

import (
	"context"
	"encoding/base64"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// fnRuntime is the execution state of one function: its instances, the invocations holding a
// concurrency slot and the asynchronous queue. Guarded by Platform.mu.
type fnRuntime struct {
	delayed         int // events in their queueing delay, not yet in queue
	inflight        int // invocations holding a concurrency slot
	unreservedSlots int // of those, slots taken from the platform's unreserved pool
	instances       map[*instance]struct{}
	idle            map[string][]*instance // by version; the most recently used last
	queue           []*asyncEvent
}

// runtimeFor returns the execution state of a function, creating it; call with p.mu held.
func (p *Platform) runtimeFor(name string) *fnRuntime {
	rt := p.rt[name]
	if rt == nil {
		rt = &fnRuntime{instances: map[*instance]struct{}{}, idle: map[string][]*instance{}}
		p.rt[name] = rt
	}
	return rt
}

// acquire returns an idle instance running cfg, or a new one (cold). The caller holds a
// concurrency slot of the function.
func (p *Platform) acquire(f *function, version string, cfg *config) (*instance, bool, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, false, serviceError("the local platform is shutting down")
	}
	rt := p.runtimeFor(f.Name)
	waited := false
	for {
		if inst := p.takeIdleLocked(rt, version, cfg); inst != nil {
			p.mu.Unlock()
			return inst, false, nil
		}
		if p.closed {
			p.mu.Unlock()
			return nil, false, serviceError("the local platform is shutting down")
		}
		if p.starting < p.opts.MaxStarting {
			break
		}
		if !waited {
			p.metrics.startWaits.Inc()
			waited = true
		}
		p.startable.Wait() // a start ends, or an instance comes free: look again
	}
	p.starting++
	switch {
	case f.Reserved != nil && len(rt.instances) >= *f.Reserved:
		p.evictIdleLocked(rt) // idle instances of its other versions
	case len(p.instances) >= p.opts.ConcurrencyLimit:
		p.evictIdleAnyLocked() // the limit bounds instances too, busy or idle
	}
	now := time.Now()
	inst := &instance{
		p:         p,
		token:     randomHex(16),
		fn:        f.Name,
		version:   version,
		cfg:       cfg,
		region:    f.Region,
		group:     cfg.logGroup(f.Name),
		stream:    cfg.logStream(f.Name, version, now),
		secret:    "\x00fz" + randomHex(8),
		accessKey: "ASIA" + strings.ToUpper(fastHex(8)),
		codeDir:   filepath.Join(p.opts.RunDir, cfg.codeDir()),
		work:      make(chan *invocation, 1),
		dead:      make(chan struct{}),
		cgJoined:  make(chan struct{}),
		tails:     map[string]chan []byte{},
		busy:      true,
		uid:       -1,
	}
	p.instances[inst.token] = inst
	p.byKey[inst.accessKey] = inst
	rt.instances[inst] = struct{}{}
	p.procs.Add(1) // under p.mu and before Close, so Close waits for this process
	p.mu.Unlock()

	var err error = serviceError("the local platform is shutting down")
	if p.pause(context.Background(), p.opts.LatencyProfile.ColdStart.Draw()) { // sandbox creation
		err = inst.start()
	}
	if err != nil {
		inst.endStart()
		p.mu.Lock()
		delete(p.instances, inst.token)
		delete(p.byKey, inst.accessKey)
		delete(rt.instances, inst)
		p.mu.Unlock()
		p.procs.Done()
		return nil, true, err
	}
	p.metrics.instances.WithLabelValues(f.Name).Inc()
	return inst, true, nil
}

// endStart frees the instance's start slot (Options.MaxStarting), once.
func (inst *instance) endStart() {
	inst.startOnce.Do(func() {
		p := inst.p
		p.mu.Lock()
		p.starting--
		p.startable.Broadcast()
		p.mu.Unlock()
	})
}

// takeIdleLocked returns an idle instance of version running cfg, marked busy, or nil; it stops
// idle instances of the version that are dead or run an older configuration.
func (p *Platform) takeIdleLocked(rt *fnRuntime, version string, cfg *config) *instance {
	idle := rt.idle[version]
	defer func() { rt.idle[version] = idle }()
	for len(idle) > 0 {
		inst := idle[len(idle)-1]
		idle = idle[:len(idle)-1]
		if inst.cfg != cfg || inst.isDead() {
			inst.stop()
			continue
		}
		inst.busy = true
		return inst
	}
	return nil
}

// evictIdleLocked stops the least recently used idle instance of any version to make room.
func (p *Platform) evictIdleLocked(rt *fnRuntime) {
	var victim *instance
	var vkey string
	for v, list := range rt.idle {
		if len(list) > 0 && (victim == nil || list[0].lastUsed.Before(victim.lastUsed)) {
			victim, vkey = list[0], v
		}
	}
	if victim != nil {
		rt.idle[vkey] = rt.idle[vkey][1:]
		victim.stop()
	}
}

// evictIdleAnyLocked stops the least recently used idle instance of any function.
func (p *Platform) evictIdleAnyLocked() {
	var victim *fnRuntime
	var oldest time.Time
	for _, rt := range p.rt {
		for _, list := range rt.idle {
			if len(list) > 0 && (victim == nil || list[0].lastUsed.Before(oldest)) {
				victim, oldest = rt, list[0].lastUsed
			}
		}
	}
	if victim != nil {
		p.evictIdleLocked(victim)
	}
}

// release returns an instance after a request: to the idle pool if it still runs the current
// configuration of its version, else it is stopped. It frees the caller's concurrency slot.
func (p *Platform) release(name string, inst *instance, freeSlot bool) {
	p.mu.Lock()
	rt := p.runtimeFor(name)
	if freeSlot {
		p.freeSlotLocked(name, rt)
	}
	if inst != nil {
		inst.busy = false
		f := p.fns[name]
		current := f != nil && f.version(inst.version) == inst.cfg
		if _, alive := rt.instances[inst]; alive && current && !inst.isDead() && !p.closed {
			inst.lastUsed = time.Now()
			rt.idle[inst.version] = append(rt.idle[inst.version], inst)
			p.startable.Broadcast() // a request waiting to start an instance may take this one
		} else {
			inst.stop()
		}
	}
	p.pumpLocked(name, rt)
	p.mu.Unlock()
}

// forgetInstance removes an exited instance from every index.
func (p *Platform) forgetInstance(inst *instance) {
	p.mu.Lock()
	delete(p.instances, inst.token)
	delete(p.byKey, inst.accessKey)
	if rt := p.rt[inst.fn]; rt != nil {
		delete(rt.instances, inst)
		if list := rt.idle[inst.version]; len(list) > 0 {
			rt.idle[inst.version] = slices.DeleteFunc(list, func(i *instance) bool { return i == inst })
		}
	}
	p.mu.Unlock()
	p.metrics.instances.WithLabelValues(inst.fn).Dec()
}

// stopStaleLocked stops the idle instances of a function whose configuration for their version
// changed or went away; busy ones stop when released. Call with p.mu held.
func (p *Platform) stopStaleLocked(name string) {
	rt := p.rt[name]
	if rt == nil {
		return
	}
	f := p.fns[name]
	for v, list := range rt.idle {
		keep := list[:0]
		for _, inst := range list {
			if f != nil && f.version(v) == inst.cfg {
				keep = append(keep, inst)
			} else {
				inst.stop()
			}
		}
		rt.idle[v] = keep
	}
}

// reapIdle stops instances idle for longer than IdleTimeout.
func (p *Platform) reapIdle() {
	defer p.bg.Done()
	every := min(max(p.opts.IdleTimeout/4, 10*time.Millisecond), 30*time.Second)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-p.closing:
			return
		case now := <-t.C:
			p.mu.Lock()
			for _, rt := range p.rt {
				for v, list := range rt.idle {
					keep := list[:0]
					for _, inst := range list {
						if now.Sub(inst.lastUsed) > p.opts.IdleTimeout {
							inst.stop()
						} else {
							keep = append(keep, inst)
						}
					}
					rt.idle[v] = keep
				}
			}
			p.mu.Unlock()
		}
	}
}

// execute runs inv on an instance of the function's version and returns the invocation that
// ran (a warm instance that died before taking the request is replaced, with a new invocation
// of the same request ID). The caller holds a concurrency slot, which execute releases.
func (p *Platform) execute(f *function, version string, cfg *config, inv *invocation) *invocation {
	if retry := p.executeOnce(f, version, cfg, inv, false); !retry {
		return inv
	}
	fresh := newInvocation(inv.id, inv.payload)
	fresh.arn, fresh.trace, fresh.clientCtx, fresh.tail, fresh.background = inv.arn, inv.trace, inv.clientCtx, inv.tail, inv.background
	p.executeOnce(f, version, cfg, fresh, true)
	return fresh
}

// executeOnce runs inv on one instance. It reports retry, keeping the concurrency slot, when a
// warm instance died before taking the request and lastTry is false.
func (p *Platform) executeOnce(f *function, version string, cfg *config, inv *invocation, lastTry bool) (retry bool) {
	inst, cold, err := p.acquire(f, version, cfg)
	if err != nil {
		p.release(f.Name, nil, true)
		if ae, ok := err.(*apiError); ok {
			inv.finish(result{payload: errorPayload(ae.typ, ae.msg), functionError: true, outcome: outcomeCrash})
			return false
		}
		p.log.Warn("local platform: bootstrap does not start", "function", f.Name, "err", err)
		msg := entrypointError(inv.id, err)
		now := time.Now()
		p.logs.Append(cfg.logGroup(f.Name), cfg.logStream(f.Name, version, now), now, msg+"\n", "Runtime.InvalidEntrypoint\n")
		p.metrics.observe(f.Name, outcomeCrash, cold, 0, 0, cfg.MemorySize)
		inv.finish(result{payload: errorPayload("Runtime.InvalidEntrypoint", msg), functionError: true, outcome: outcomeCrash})
		return false
	}
	inv.cold = cold
	if inv.tail {
		inv.tailCh = make(chan []byte, 1)
	}
	if inst.cg != nil {
		// The instance is ours alone until released: no other invocation sets its weight.
		if err := inst.cg.SetBackground(inv.background); err != nil && !inst.isDead() {
			p.log.Warn("local platform: instance keeps its CPU weight", "function", f.Name, "err", err)
		}
	}
	inst.mu.Lock()
	inst.cur = inv
	if inv.tail {
		inst.tails[inv.id] = inv.tailCh
	}
	inst.mu.Unlock()
	if inst.isDead() {
		inst.mu.Lock()
		if inst.cur == inv {
			inst.cur = nil
		}
		inst.mu.Unlock()
		inst.failInFlight(inv, inst.exitErr)
	}
	inst.work <- inv

	initTimer := time.NewTimer(initTimeout)
	select {
	case <-inv.dispatched:
	case <-inv.done:
	case <-initTimer.C:
		msg := "RequestId: " + inv.id + " Error: Task timed out after " + formatSeconds(initTimeout) + " during init"
		if inv.finish(result{payload: errorPayload("Sandbox.Timedout", msg), functionError: true, outcome: outcomeTimeout}) {
			inst.stop()
		}
	case <-p.closing:
		inv.finish(result{payload: errorPayload("ServiceException", "the local platform is shutting down"), functionError: true, outcome: outcomeCrash})
	}
	initTimer.Stop()
	if !inv.finished() {
		timeout := time.Duration(cfg.Timeout) * time.Second
		t := time.NewTimer(timeout)
		select {
		case <-inv.done:
		case <-t.C:
			msg := "RequestId: " + inv.id + " Error: Task timed out after " + formatSeconds(timeout)
			if inv.finish(result{payload: errorPayload("Sandbox.Timedout", msg), functionError: true, outcome: outcomeTimeout}) {
				inst.stop()
			}
		case <-p.closing:
			inv.finish(result{payload: errorPayload("ServiceException", "the local platform is shutting down"), functionError: true, outcome: outcomeCrash})
		}
		t.Stop()
	}
	<-inv.done
	retry = inv.res.undispatched && !cold && !lastTry
	p.release(f.Name, inst, !retry)
	return retry
}

// awaitTail returns the base64 tail of the invocation's log once its REPORT line is written.
func (p *Platform) awaitTail(inv *invocation) string {
	if inv.tailCh == nil {
		return ""
	}
	t := time.NewTimer(2 * time.Second)
	defer t.Stop()
	select {
	case b := <-inv.tailCh:
		return base64.StdEncoding.EncodeToString(b)
	case <-t.C:
		return ""
	}
}
