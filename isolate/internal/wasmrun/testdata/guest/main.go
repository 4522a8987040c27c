// Command guest is the WASI test guest of package wasmrun. It is built by the
// tests with GOOS=wasip1 GOARCH=wasm; argv[1] selects what it does.
package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

var counter int64

func main() {
	mode := ""
	if len(os.Args) > 1 {
		mode = os.Args[1]
	}
	switch mode {
	case "echo":
		if _, err := io.Copy(os.Stdout, os.Stdin); err != nil {
			fmt.Fprintln(os.Stderr, "echo:", err)
			os.Exit(1)
		}
	case "exit":
		fmt.Fprintln(os.Stderr, "boom: something went wrong")
		code, _ := strconv.Atoi(os.Args[2])
		os.Exit(code)
	case "spin":
		fmt.Println("spinning")
		for {
			counter++
			if counter == -1 {
				break
			}
		}
	case "hog":
		mib, _ := strconv.Atoi(os.Args[2])
		var keep [][]byte
		for i := 0; i < mib; i++ {
			b := make([]byte, 1<<20)
			b[len(b)-1] = byte(i)
			keep = append(keep, b)
		}
		fmt.Println("allocated", len(keep), "MiB")
	case "env":
		// Not sorted here: the host must pass environ sorted.
		fmt.Println(strings.Join(os.Environ(), "\n"))
	case "fs":
		if _, err := os.ReadFile("/etc/passwd"); err != nil {
			fmt.Println("denied:", err)
		} else {
			fmt.Println("read /etc/passwd")
		}
		if _, err := os.ReadDir("/"); err != nil {
			fmt.Println("denied:", err)
		} else {
			fmt.Println("listed /")
		}
		if err := os.WriteFile("/tmp/x", []byte("x"), 0o644); err != nil {
			fmt.Println("denied:", err)
		} else {
			fmt.Println("wrote /tmp/x")
		}
	case "rand":
		b := make([]byte, 16)
		if _, err := rand.Read(b); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println(hex.EncodeToString(b))
	case "time":
		fmt.Println(time.Now().UTC().Format(time.RFC3339))
	case "loud":
		chunk := strings.Repeat("x", 64<<10)
		for {
			if _, err := os.Stdout.WriteString(chunk); err != nil {
				os.Exit(7)
			}
		}
	default:
		fmt.Fprintln(os.Stderr, "unknown mode", mode)
		os.Exit(2)
	}
}
