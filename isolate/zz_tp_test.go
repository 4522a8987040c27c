package isolate
import ("testing";"context";"sync";"time";"fmt")
func TestTP(t *testing.T){
 for _, kind := range []ExecutorKind{Sandboxed} {
 rt, err := New(Options{Executor: kind})
 if err != nil { t.Fatal(err) }
 code := js("main.js", `export default { fetch() { return new Response("hi") } }`)
 rt.Run(context.Background(), &Invocation{Code: code})
 for _, clients := range []int{16} {
 var wg sync.WaitGroup; n := 0; var mu sync.Mutex
 t0 := time.Now()
 for c:=0;c<clients;c++ { wg.Add(1); go func(){ defer wg.Done(); for time.Since(t0) < 2*time.Second { r := rt.Run(context.Background(), &Invocation{Code: code}); if !r.OK() { t.Error(r.Outcome, r.Error) ; return}; mu.Lock(); n++; mu.Unlock() } }() }
 wg.Wait()
 fmt.Printf("%s clients %d: %.0f/s\n", kind, clients, float64(n)/time.Since(t0).Seconds())
 }
 rt.Close()
 }
}
