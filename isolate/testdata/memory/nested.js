// Nested JSON: 2,000 orders, each with a customer object and ten line
// items (the shape of an API response), and the copy JSON.parse makes of
// its text; both are kept.
function build(scale) {
  const orders = [];
  for (let i = 0; i < 2000 * scale; i++) {
    const items = [];
    for (let j = 0; j < 10; j++) items.push({ sku: "SKU-" + (i * 10 + j), qty: j + 1, price: (j + 1) * 2.5, tags: ["a", "b"] });
    orders.push({ id: "order-" + i, customer: { name: "Customer " + i, email: "c" + i + "@example.com", vip: i % 7 === 0 }, items });
  }
  return [orders, JSON.parse(JSON.stringify(orders))];
}
