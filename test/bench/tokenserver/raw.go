package main

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// driveRaw runs n workers for d like drive, but each worker owns one
// keep-alive TCP connection and writes requests built in advance, reading
// responses with net/http's parser. It spends a fraction of what Go's HTTP
// client spends per request, so the latency it reports is the server's and
// the network's rather than the load generator's own queueing.
func driveRaw(st *state, n int, d time.Duration) []workerResult {
	u, err := url.Parse(st.URL)
	if err != nil {
		panic(err)
	}
	const body = "grant_type=client_credentials"
	requests := make([][]byte, len(st.Clients))
	for i, c := range st.Clients {
		auth := base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(c[0]) + ":" + url.QueryEscape(c[1])))
		requests[i] = fmt.Appendf(nil, "POST %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Basic %s\r\n"+
			"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n%s",
			u.RequestURI(), u.Host, auth, len(body), body)
	}
	out := make([]workerResult, n)
	stop := time.Now().Add(d)
	var wg sync.WaitGroup
	for w := range n {
		wg.Go(func() { out[w] = rawWorker(u.Host, requests, w, n, stop) })
	}
	wg.Wait()
	return out
}

func rawWorker(addr string, requests [][]byte, first, step int, stop time.Time) workerResult {
	res := workerResult{ok: make([]time.Duration, 0, 1<<14)}
	var (
		conn net.Conn
		br   *bufio.Reader
	)
	for i := first; time.Now().Before(stop); i += step {
		if conn == nil {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				res.failed++
				time.Sleep(10 * time.Millisecond)
				continue
			}
			conn, br = c, bufio.NewReaderSize(c, 16<<10)
		}
		t0 := time.Now()
		ok := roundTrip(conn, br, requests[i%len(requests)])
		if !ok {
			res.failed++
			_ = conn.Close()
			conn = nil
			continue
		}
		res.ok = append(res.ok, time.Since(t0))
	}
	if conn != nil {
		_ = conn.Close()
	}
	return res
}

func roundTrip(conn net.Conn, br *bufio.Reader, request []byte) bool {
	if _, err := conn.Write(request); err != nil {
		return false
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return false
	}
	_, err = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return err == nil && resp.StatusCode == http.StatusOK && !resp.Close
}
