"""Standard financial metrics: which printed line items are which metric, and how analysts name them.

A line item is a metric when its label (as printed, normalised) matches one of the metric's label
forms and it stands in the statement the metric belongs to. The forms are the US-GAAP standard
labels of the concepts behind each metric (``CONCEPTS``, the same names iXBRL filings tag) plus the
variants real filings print ("Payments for acquisition of property, plant and equipment",
"Additions to property, plant and equipment", "Capital expenditures").
"""
from __future__ import annotations

import re
from dataclasses import dataclass

INCOME, BALANCE, CASH = "income statement", "balance sheet", "cash flow"


@dataclass(frozen=True)
class Metric:
    name: str  # how an answer names it: "capital expenditure"
    statement: str  # where it stands
    labels: tuple[str, ...]  # regexes over the normalised label
    asked: tuple[str, ...]  # regexes over the question: how analysts name it
    outflow: bool = False  # printed negative in the cash-flow statement; reported as a positive amount
    expense: bool = False  # some statements print it in parentheses, as a deduction; asked as an amount
    concepts: tuple[str, ...] = ()  # US-GAAP concepts (iXBRL) that are this metric
    per_share: bool = False


_PPE = r"property(?:,)? (?:plant(?:,)? )?(?:and|&) equipment"
METRICS: tuple[Metric, ...] = (
    Metric("revenue", INCOME,
           (r"^(total )?(net )?(revenues?|sales)( net)?$", r"^total net (sales|revenues?)$", r"^(total )?operating revenues?$",
            r"^revenues?, net$", r"^net revenues?$", r"^total revenues? and other income$", r"^revenue$"),
           (r"\b(total |net )*(revenues?|sales)\b(?! (and|&) marketing)(?!,? general\b)", r"\btop[- ]line\b", r"\bturnover\b(?! ratio)"),
           concepts=("Revenues", "RevenueFromContractWithCustomerExcludingAssessedTax", "SalesRevenueNet")),
    Metric("cost of revenue", INCOME, (r"^(total )?cost of (net )?(revenues?|sales|goods sold)$",),
           (r"\bcost of (net )?(revenues?|sales|goods sold)\b", r"\bcogs\b"),
           expense=True, concepts=("CostOfRevenue", "CostOfGoodsAndServicesSold")),
    Metric("gross profit", INCOME, (r"^gross (profit|margin)$",), (r"\bgross (profit|margin)\b",),
           concepts=("GrossProfit",)),
    Metric("operating expenses", INCOME, (r"^total operating (expenses|costs and expenses)$", r"^operating expenses$"),
           (r"\b(total )?operating (expenses|costs)\b", r"\bopex\b"), expense=True, concepts=("OperatingExpenses",)),
    Metric("operating income", INCOME,
           (r"^(total )?operating income( \(loss\))?$", r"^income( \(loss\))? from operations$",
            r"^operating (profit|loss|income \(loss\))$"),
           (r"\boperating (income|profit)\b", r"\bincome from operations\b", r"\bebit\b"),
           concepts=("OperatingIncomeLoss",)),
    Metric("net income", INCOME,
           (r"^net (income|earnings|loss|income \(loss\)|earnings \(loss\)) attributable to (?!non-?controlling|"
            r"(the )?(common|ordinary|class [a-c])\b|.*\bcommon (stock|share)holders)",
            r"^net (income|earnings)( \(loss\))?$", r"^net (loss|income \(loss\)|earnings \(loss\))$",
            r"^net (income|earnings|loss|income \(loss\)) (attributable|available) to (?!non-?controlling)"),
           (r"\bnet (income|earnings|profit)\b", r"\bprofit\b(?! margin)"),
           concepts=("NetIncomeLoss", "ProfitLoss")),
    Metric("pretax income", INCOME, (r"^income( \(loss\))? (from continuing operations )?before (provision for )?"
                                     r"(income )?taxes$", r"^earnings before income taxes$"),
           (r"\b(pre-?tax income|income before (income )?taxes|earnings before taxes)\b",),
           concepts=("IncomeLossFromContinuingOperationsBeforeIncomeTaxesExtraordinaryItemsNoncontrollingInterest",)),
    Metric("income tax", INCOME, (r"^(\(?provision\)? for|\(?benefit\)? from)? ?(income )?tax(es)?( expense| provision|"
                                  r" \(?provision\)?| benefit| \(benefit\)| \(expense\) benefit| benefit \(provision\))*$",
                                  r"^provision for income taxes$", r"^income tax (expense|provision)( \(benefit\))?$"),
           (r"\b(income tax(es)?( expense)?|tax expense|provision for (income )?taxes)\b",),
           expense=True, concepts=("IncomeTaxExpenseBenefit",)),
    Metric("interest expense", INCOME, (r"^interest expense\b",), (r"\binterest expense\b",),
           expense=True, concepts=("InterestExpense", "InterestExpenseNonoperating")),
    Metric("research and development", INCOME, (r"^research(,)? (and|&) development( expenses?)?$",),
           (r"\b(research(,)? (and|&) development|r&d)\b",), expense=True, concepts=("ResearchAndDevelopmentExpense",)),
    Metric("sales and marketing", INCOME, (r"^(sales|selling) (and|&) marketing( expenses?)?$",
                                           r"^marketing (and|&) sales( expenses?)?$"),
           (r"\b(sales|selling) (and|&) marketing\b", r"\bmarketing (and|&) sales\b"), expense=True,
           concepts=("SellingAndMarketingExpense",)),
    Metric("general and administrative", INCOME, (r"^general (and|&) administrative( expenses?)?$",),
           (r"(?<!selling, )\bgeneral (and|&) administrative\b",), expense=True, concepts=("GeneralAndAdministrativeExpense",)),
    Metric("selling, general and administrative", INCOME, (r"^(selling|sales), general,? (and|&) administrative",),
           (r"\b(sg&a|(selling|sales), general,? (and|&) administrative)\b",),
           expense=True, concepts=("SellingGeneralAndAdministrativeExpense",)),
    Metric("diluted EPS", INCOME, (r"\bdiluted\b", r"\bassuming dilution\b"), (r"\bdiluted (eps|earnings per share|net income per share|"
                                                       r"net income \(loss\) per share)\b",
                                                       r"\b(eps|earnings per share)\b.*\bdiluted\b", r"\beps\b"),
           concepts=("EarningsPerShareDiluted",), per_share=True),
    Metric("basic EPS", INCOME, (r"\bbasic\b",), (r"\bbasic (eps|earnings per share)\b",),
           concepts=("EarningsPerShareBasic",), per_share=True),
    Metric("depreciation and amortization", CASH,
           (r"^depreciation(,)? (and|&) amortization\b", r"^depreciation, amortization,? and", r"^depreciation$"),
           (r"\b(depreciation( (and|&) amortization)?|d&a)\b",),
           concepts=("DepreciationDepletionAndAmortization", "DepreciationAndAmortization",
                     "DepreciationAmortizationAndAccretionNet")),
    Metric("capital expenditure", CASH,
           (rf"^(purchases?|payments?) (of|for|related to) (the )?(acquisition of )?{_PPE}", r"^capital expenditures?$",
            rf"^additions to {_PPE}", rf"^payments for {_PPE}", r"^purchases? of property and equipment"),
           (r"\b(capital expenditures?|capex|cap ex)\b", rf"\b(purchases?|payments?|additions)\b.*\b{_PPE}\b"),
           outflow=True, concepts=("PaymentsToAcquirePropertyPlantAndEquipment", "PaymentsToAcquireProductiveAssets")),
    Metric("operating cash flow", CASH,
           (r"^net cash (provided by|from|generated by|provided by \(used (in|for)\)|\(used in\) provided by)"
            r"( \(used (in|for)\))? operating activities$",
            r"^cash (generated by|provided by|from) operat(ing activities|ions)$"),
           (r"\b(operating cash flows?|cash flows? from operati\w+|cash (provided|generated) by operati\w+( activities)?|"
            r"net cash provided by operating activities|cash from operations|ocf)\b",
            r"\bcash\b[^?.]{0,40}\b(generat\w*|provid\w*|produc\w*)\b (by|from|in) operati\w+( activities)?\b"),
           concepts=("NetCashProvidedByUsedInOperatingActivities",)),
    Metric("dividends paid", CASH, (r"^(payments? (for|of) )?(common stock )?dividends\b", r"^dividends paid\b",
                                    r"^cash dividends", r"^dividend payments?\b"),
           (r"\bdividends?\b(?! per share)(?! payout)",), outflow=True,
           concepts=("PaymentsOfDividends", "PaymentsOfDividendsCommonStock")),
    # cash paid for income taxes (a cash-flow supplement), not the income statement's provision
    Metric("income taxes paid", CASH, (r"^cash paid (during the (year|period) )?for income taxes(, net)?( of (tax )?refunds)?$",
                                       r"^income taxes, net of (tax )?refunds$", r"^(net )?income taxes paid\b"),
           (r"\bcash (paid )?for (income )?taxes\b", r"\b(income )?taxes paid\b",
            r"\bcash\b[^?.]{0,40}\bpa(y|id)\b[^?.]{0,12}\b(income )?taxes\b", r"\bpa(y|id) (for |in )?income taxes\b"),
           concepts=("IncomeTaxesPaidNet", "IncomeTaxesPaid")),
    Metric("share repurchases", CASH, (r"^repurchases? of (class [a-c] (and class [a-c] )?)?(common|capital) stock", r"^(treasury stock|common stock) "
                                       r"(purchases|repurchased|acquired)", r"^purchases? of (treasury|common) stock"),
           (r"\b(share repurchases?|buybacks?|repurchases? of (common )?stock|stock repurchases?|treasury stock "
            r"purchases)\b",), outflow=True, concepts=("PaymentsForRepurchaseOfCommonStock",)),
    Metric("stock-based compensation", CASH, (r"^(share|stock)-based compensation( expense)?$",),
           (r"\b(share|stock)-based compensation\b",),
           # the cash-flow statement's add-back, then the expense a note allocates (a quarter a 10-Q's
           # year-to-date cash flows do not print)
           concepts=("ShareBasedCompensation", "AllocatedShareBasedCompensationExpense")),
    Metric("total assets", BALANCE, (r"^total assets$",), (r"\btotal assets\b",), concepts=("Assets",)),
    Metric("total liabilities", BALANCE, (r"^total liabilities$",), (r"\btotal liabilities\b(?! and)",),
           concepts=("Liabilities",)),
    Metric("total equity", BALANCE, (r"^total (stockholders|shareholders|shareowners)['’]? (equity|investment)"
                                     r"( \(deficit\))?$", r"^total (stockholders|shareholders|shareowners)['’]? "
                                     r"(equity|investment)( \(deficit\))? attributable to (?!non-?controlling)",
                                     r"^total equity$"),
           (r"\b((stockholders|shareholders)['’]? equity|total equity|book value)\b",),
           concepts=("StockholdersEquity", "StockholdersEquityIncludingPortionAttributableToNoncontrollingInterest")),
    Metric("current assets", BALANCE, (r"^total current assets$",), (r"\bcurrent assets\b",),
           concepts=("AssetsCurrent",)),
    Metric("current liabilities", BALANCE, (r"^total current liabilities$",), (r"\bcurrent liabilities\b",),
           concepts=("LiabilitiesCurrent",)),
    Metric("cash and cash equivalents", BALANCE, (r"^cash and (cash )?equivalents$",),
           (r"\bcash and (cash )?equivalents\b",), concepts=("CashAndCashEquivalentsAtCarryingValue",)),
    Metric("inventories", BALANCE, (r"^(total )?inventor(y|ies)\b",), (r"\binventor(y|ies)\b",),
           concepts=("InventoryNet",)),
    Metric("accounts receivable", BALANCE, (r"^(accounts|trade)( and notes)? receivables?\b", r"^receivables\b"),
           (r"\b(accounts receivables?|receivables)\b",), concepts=("AccountsReceivableNetCurrent",)),
    Metric("accounts payable", BALANCE, (r"^accounts payable$", r"^accounts payable, current$"),
           (r"\b(accounts payable|payables)\b",), concepts=("AccountsPayableCurrent",)),
    Metric("long-term debt", BALANCE, (r"^long-term debt\b(?!, classified as current)", r"^notes payable and other "
                                       r"borrowings, non-current$"), (r"\blong-term debt\b",),
           concepts=("LongTermDebtNoncurrent",)),
    Metric("short-term debt", BALANCE, (r"^short-term (debt|borrowings)$", r"^notes and loans payable$",
                                        r"^debt due within one year$"),
           (r"\bshort[- ]term (debt|borrowings)\b", r"\bdebt due within one year\b"),
           concepts=("DebtCurrent", "ShortTermBorrowings")),
    Metric("property, plant and equipment", BALANCE, (rf"^(net )?{_PPE}(, net)?$", r"^net property and equipment$"),
           (r"\b(pp&e|fixed assets|net property|property and equipment|" + _PPE + r")\b",),
           concepts=("PropertyPlantAndEquipmentNet",)),
    Metric("goodwill", BALANCE, (r"^goodwill$",), (r"\bgoodwill\b",), concepts=("Goodwill",)),
)
BY_NAME = {m.name: m for m in METRICS}
BY_CONCEPT = {c: m for m in METRICS for c in m.concepts}

# Printed labels lose ligatures where a PDF's font has no text for them ("Gross pro t", "Cash  ows",
# "opera ng ac vi es"): a gap inside a word is filled from this list when that spells a known word.
_LIGATURES = ("fi", "fl", "ff", "ffi", "ti", "ft", "tt")
_WORDS = {"profit", "flows", "flow", "operating", "activities", "financing", "benefit", "benefits", "liabilities",
          "affiliates", "effect", "efficiency", "identified", "classified", "certificates", "diluted", "differ",
          "different", "significant", "specified", "deficit", "offering", "office", "officer", "portfolio", "fiscal",
          "other", "acquisitions", "acquisition", "obligations", "operations", "investing", "activities", "sti",
          "tax", "related", "notes", "unaudited", "consolidated", "dividends", "definite", "final", "certification"}


def normalise_label(label: str) -> str:
    """A printed label as compared: lower case, footnote marks, references to notes, '$' and trailing
    colons gone, lost ligatures filled, quotes and dashes plain."""
    text = re.sub(r"[\x00-\x1f]", " ", label).replace("’", "'").replace("–", "-").replace("—", "-")
    text = re.sub(r"\(\d\)|\(\w\)(?=\s|$)|\*+|\$", " ", text)
    # "Debt due after one year (Note 14)": a reference to a note names no part of the line
    text = re.sub(r"\((?:see )?notes? \d+[a-z]?(?:(?:,| and|, and) \d+[a-z]?)*\)", " ", text, flags=re.IGNORECASE)
    return fill_ligatures(text).strip(" :,.").lower()


def fill_ligatures(text: str) -> str:
    """A printed label with the letters its PDF font had no text for put back, case kept: "Gross
    pro t" -> "Gross profit", "Free cash  ow" -> "Free cash flow"."""
    words = re.sub(r"[\x00-\x1f]", " ", text).split()
    out: list[str] = []
    k = 0
    while k < len(words):
        word = words[k]
        if k + 1 < len(words):
            nxt = words[k + 1]
            filled = next((word + lig + nxt for lig in _LIGATURES if (word + lig + nxt).lower().strip(",.:;") in _WORDS),
                          None)
            if filled:
                out.append(filled)
                k += 2
                continue
        # a ligature lost at a word's start: "Free cash  ow", "Cash  ows from  nancing activities"
        starts = next((lig + word for lig in _LIGATURES if (lig + word).lower().strip(",.:;") in _WORDS
                       and word.lower().strip(",.:;") not in _WORDS), None)
        if starts:
            word = starts
        out.append(word)
        k += 1
    return " ".join(out)


_SHARE_COUNT = re.compile(r"\bshares used\b|weighted[- ]average|shares outstanding|number of shares|^shares\b|"
                          r"\bshares\b(?!.*\bper\b)")


_SHARE_COUNT_SECTION = re.compile(r"^(weighted[- ]average|shares used|number of (common )?shares|(common )?shares "
                                  r"outstanding|basic and diluted shares|denominator)")


def is_share_count(label: str, section: str = "") -> bool:
    """A row of share counts ("Shares used in computing earnings per share: Basic"), not an amount;
    a section only counts when it heads share counts (a balance sheet's "Common stock; … shares
    authorized" above "Total stockholders' equity" does not)."""
    return bool(_SHARE_COUNT.search(normalise_label(label)) or _SHARE_COUNT_SECTION.search(normalise_label(section)))


# a non-GAAP line ("Non-GAAP net income", any line under a "Non-GAAP" heading) is not the GAAP metric
_NON_GAAP = re.compile(r"\bnon-?gaap\b")


def reads_in(metric: Metric, statement: str | None) -> bool:
    """Whether a line of this statement can be the metric: its home statement (D&A also stands in
    income statements)."""
    return statement is None or statement == metric.statement or (
        metric.statement == CASH and statement == INCOME and metric.name == "depreciation and amortization")


def metric_of(label: str, statement: str | None, section: str = "", learned=None) -> Metric | None:
    """The standard metric a printed line item is, if any (its statement must be the metric's): by
    the metric's label forms, else by the labels learned from iXBRL filings (`label_map`; ``learned``
    replaces the shipped ones)."""
    text = normalise_label(label)
    sect = normalise_label(section)
    if is_share_count(label, section) or _NON_GAAP.search(text + " " + sect):
        return None
    for metric in METRICS:
        if not reads_in(metric, statement):
            continue
        if metric.per_share:
            if any(re.search(p, text) for p in metric.labels) and re.search(r"per (common )?share|\beps\b|earnings|"
                                                                             r"income", text + " " + sect):
                return metric
            continue
        if any(re.search(p, text) for p in metric.labels):
            return metric
    if statement is None:  # a table no statement title names: only the forms, which say more than a few words
        return None
    if learned is None:
        from r1mm.analysis.label_map import shipped
        learned = shipped()
    metric = learned.metric(text, statement)
    # a per-share metric needs its section's words, which the learned labels do not keep
    return metric if metric is not None and reads_in(metric, statement) and not metric.per_share else None


def metrics_asked(question: str) -> list[tuple[int, Metric]]:
    """The metrics a question names, with where each is named, in the order named (a longer name
    wins where two overlap: "cost of revenue" over "revenue")."""
    return [(start, metric) for start, _, metric in metric_spans(question)]


def metric_spans(question: str) -> list[tuple[int, int, Metric]]:
    """The metrics a question names with the span of lower-cased text that names each."""
    q = question.lower().replace("’", "'")
    spans: list[tuple[int, int, Metric]] = []
    for metric in METRICS:
        for pattern in metric.asked:
            for m in re.finditer(pattern, q):
                spans.append((m.start(), m.end(), metric))
    # a name inside a longer one is not asked by itself ("sales" in "cost of sales")
    spans = [s for s in spans if not any(o[0] <= s[0] and s[1] <= o[1] and o[1] - o[0] > s[1] - s[0] for o in spans)]
    spans.sort(key=lambda s: (-(s[1] - s[0]), s[0]))
    chosen: list[tuple[int, int, Metric]] = []
    for start, end, metric in spans:
        if not any(s < end and start < e for s, e, _ in chosen) and metric not in [c[2] for c in chosen]:
            chosen.append((start, end, metric))
    return sorted(chosen, key=lambda s: s[0])
