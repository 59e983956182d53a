// Command servecontent is the Go peer of benches/load.sh: net/http with
// http.ServeContent, the standard library's range implementation (single
// ranges, multipart/byteranges, If-Range, preconditions).
//
//	go build -o servecontent servecontent.go
//	./servecontent -addr 127.0.0.1:PORT DIR
//
// Each regular file NAME directly in DIR is served as
//
//	/file/NAME   an *os.File opened (and stat'ed) per request
//	/bytes/NAME  a bytes.Reader over the file, read into memory at start
//
// Both set Content-Type, a strong ETag ("<len hex>-<mtime nanos hex>", the
// same shape as examples/serve.rs) and Last-Modified, like the Rust
// servers. Standard library only. SIGINT or SIGTERM stops it.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

type loaded struct {
	data    []byte
	modtime time.Time
}

func etag(size int64, modtime time.Time) string {
	return fmt.Sprintf("\"%x-%x\"", size, modtime.UnixNano())
}

// name returns the file name after prefix, or "" for anything that is not
// a plain name.
func name(path, prefix string) string {
	name := strings.TrimPrefix(path, prefix)
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\\") {
		return ""
	}
	return name
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	flag.Parse()
	if flag.NArg() != 1 {
		log.Fatal("usage: servecontent [-addr ADDR] DIR")
	}
	dir := flag.Arg(0)

	entries, err := os.ReadDir(dir)
	if err != nil {
		log.Fatal(err)
	}
	memory := map[string]loaded{}
	for _, entry := range entries {
		if !entry.Type().IsRegular() {
			continue
		}
		path := filepath.Join(dir, entry.Name())
		data, err := os.ReadFile(path)
		if err != nil {
			log.Fatal(err)
		}
		info, err := os.Stat(path)
		if err != nil {
			log.Fatal(err)
		}
		memory[entry.Name()] = loaded{data, info.ModTime()}
	}

	mux := http.NewServeMux()
	mux.HandleFunc("/file/", func(w http.ResponseWriter, r *http.Request) {
		name := name(r.URL.Path, "/file/")
		if name == "" {
			http.NotFound(w, r)
			return
		}
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			http.NotFound(w, r)
			return
		}
		defer f.Close()
		info, err := f.Stat()
		if err != nil || !info.Mode().IsRegular() {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "application/octet-stream")
		h.Set("Etag", etag(info.Size(), info.ModTime()))
		http.ServeContent(w, r, name, info.ModTime(), f)
	})
	mux.HandleFunc("/bytes/", func(w http.ResponseWriter, r *http.Request) {
		file, ok := memory[name(r.URL.Path, "/bytes/")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "application/octet-stream")
		h.Set("Etag", etag(int64(len(file.data)), file.modtime))
		http.ServeContent(w, r, "", file.modtime, bytes.NewReader(file.data))
	})

	fmt.Printf("servecontent listening on http://%s\n", *addr)
	log.Fatal(http.ListenAndServe(*addr, mux))
}
