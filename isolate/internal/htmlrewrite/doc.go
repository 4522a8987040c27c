// Package htmlrewrite is the streaming HTML rewriter behind the Workers
// HTMLRewriter: it tokenizes HTML as it arrives (golang.org/x/net/html's
// tokenizer, not its tree builder), matches CSS selectors
// (github.com/andybalholm/cascadia) against the stack of open elements, calls
// handlers for elements, end tags, text chunks, comments, the doctype and
// the document's end, and writes the rewritten HTML.
//
// # Interface
//
// A Rewriter is an incremental transformer: Write queues a chunk of input,
// Close marks its end, and Run processes what it can, returning the output
// produced so far and why it stopped:
//
//   - NeedInput: everything written was processed (a token cut by the end
//     of a chunk waits for the next one); Write more, or Close.
//   - Suspended: a handler asked to wait (an async handler's promise); call
//     Run again once it has settled. The content it was given stays
//     mutable until then.
//   - Done: Close was called and all input is processed.
//
// Output is never held back beyond the token being processed, so a stream
// body can pass each chunk on as Run returns it.
//
// # Selectors
//
// The subset of CSS that Cloudflare's HTMLRewriter supports: *, type, .class,
// #id, attribute selectors ([a], [a=v], [a~=v], [a^=v], [a$=v], [a*=v],
// [a|=v], with the i flag), :nth-child(an+b), :first-child,
// :nth-of-type(an+b), :first-of-type, :not(...), the descendant and child
// combinators, and selector lists. Anything else (sibling combinators,
// :last-child, :has, pseudo-elements, ...) is refused by Compile. The nth
// pseudo-classes are evaluated from per-element counters and handed to
// cascadia as synthetic attributes, so a flat document costs no memory per
// sibling and no work per earlier sibling.
//
// # Bounds
//
// Memory is the input not yet tokenized (at most one token: a huge comment
// or tag waits for its end), the stack of open elements (at most MaxDepth;
// deeper nesting is an error), and the output of one Run. Text is handed to
// handlers in chunks of at most MaxTextChunk bytes.
//
// # Tree construction
//
// As in lol-html, there is no tree builder: void elements (br, img, ...) and
// self-closing tags in foreign content have no content; an end tag closes
// the innermost open element of its name and the elements opened inside it
// (an end tag with no open element of its name is passed through as is);
// elements still open at the end of input are closed there. The implicit
// closing rules of the HTML parser (a <p> closing an open <p>) do not apply.
package htmlrewrite
