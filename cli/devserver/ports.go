package devserver

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"syscall"
)

// PortInUseError reports that a port the dev server must listen on is taken.
// The CLI can match it with errors.As to name the flag that changes the port.
type PortInUseError struct {
	Service string // "Temporal frontend" or "Temporal Web UI"
	Host    string
	Port    int
	Err     error
}

func (e *PortInUseError) Error() string {
	hint := "is another Temporal server running? choose another port"
	if e.Service == serviceUI {
		hint = "is another Temporal Web UI running? choose another port or disable the UI"
	}
	return fmt.Sprintf("port %d (%s) is in use on %s: %s", e.Port, e.Service, e.Host, hint)
}

func (e *PortInUseError) Unwrap() error { return e.Err }

const (
	serviceFrontend = "Temporal frontend"
	serviceUI       = "Temporal Web UI"
)

// checkPortFree binds host:port and releases it at once, so that a taken
// port is reported before the Temporal server or the UI tries it (the UI
// server would end the process on a failed bind).
func checkPortFree(service, host string, port int) error {
	l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return &PortInUseError{Service: service, Host: host, Port: port, Err: err}
		}
		return fmt.Errorf("listen on %s port %d for the %s: %w", host, port, service, err)
	}
	return l.Close()
}

// freePorts returns n distinct ports that are free on host right now. All n
// listeners are held open together, so the kernel never hands out one port
// twice; they are closed before returning.
func freePorts(host string, n int) ([]int, error) {
	ports := make([]int, 0, n)
	listeners := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range listeners {
			_ = l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return nil, fmt.Errorf("pick a free port on %s: %w", host, err)
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
