package intl

import "github.com/go-playground/locales"

// pluralName is the Intl name of a CLDR plural category.
func pluralName(r locales.PluralRule) string {
	switch r {
	case locales.PluralRuleZero:
		return "zero"
	case locales.PluralRuleOne:
		return "one"
	case locales.PluralRuleTwo:
		return "two"
	case locales.PluralRuleFew:
		return "few"
	case locales.PluralRuleMany:
		return "many"
	}
	return "other"
}

// pluralCategories lists a locale's categories in ICU's order (by name,
// "other" last).
func pluralCategories(rules []locales.PluralRule) []string {
	var out []string
	for _, want := range []locales.PluralRule{locales.PluralRuleFew, locales.PluralRuleMany, locales.PluralRuleOne,
		locales.PluralRuleTwo, locales.PluralRuleZero, locales.PluralRuleOther} {
		for _, r := range rules {
			if r == want {
				out = append(out, pluralName(r))
				break
			}
		}
	}
	return out
}
