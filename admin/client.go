package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Client talks to a running algd's admin listener: over the control
// socket when Socket is set, else over TCP to Addr with Token (when set)
// as the bearer token.
type Client struct {
	// Addr is the admin listener's ip:port ([admin] listen).
	Addr string
	// Socket is the control socket's path ([admin] control_socket).
	Socket string
	// Token is the bearer token ([admin] token_file's content).
	Token string
	// HTTP, when set, is used instead of a client of Client's own.
	HTTP *http.Client
}

// httpClient returns the client for c's transport.
func (c *Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	hc := &http.Client{Timeout: 10 * time.Second}
	if c.Socket != "" {
		var d net.Dialer
		hc.Transport = &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "unix", c.Socket)
		}}
	}
	return hc
}

// base is the URL prefix of c's requests.
func (c *Client) base() string {
	if c.Socket != "" {
		return "http://algd"
	}
	return "http://" + c.Addr
}

// Status reads /status.json.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var st Status
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base()+"/status.json", nil)
	if err != nil {
		return st, fmt.Errorf("status: %w", err)
	}
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return st, fmt.Errorf("status: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("status: %s answered %s", c.base(), resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&st); err != nil {
		return st, fmt.Errorf("status: decode: %w", err)
	}
	return st, nil
}

// Post calls a state-changing endpoint (path such as
// "/realservers/ftpd/127.0.0.2:21/drain") with form, and returns an error
// carrying algd's answer unless it applied the change.
func (c *Client) Post(ctx context.Context, path string, form url.Values) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base()+path, strings.NewReader(form.Encode()))
	if err != nil {
		return fmt.Errorf("admin: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if c.Token != "" && c.Socket == "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return fmt.Errorf("admin: %w", err)
	}
	defer resp.Body.Close()
	var res Result
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&res); err != nil {
		return fmt.Errorf("admin: %s answered %s", path, resp.Status)
	}
	if resp.StatusCode != http.StatusOK || !res.OK {
		return fmt.Errorf("admin: %s answered %s: %s", path, resp.Status, res.Error)
	}
	return nil
}
