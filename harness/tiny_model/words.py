"""The tiny model's synthetic cases: word lists and one case generator per task, each (text, label, reason).

Written here, never taken from the scenarios' cases (those stay held out). A scenario names its generator in its
`[tiny_model]` table (`cases = "spam"`); `GENERATORS` is the list of those names.
"""

from __future__ import annotations

import random

VARIANTS = 2  # phrasings per analysis reason


def _pick(rng: random.Random, options: tuple[str, ...] | list[str]) -> str:
    return options[rng.randrange(len(options))]


_NAMES = ("Sam", "Alex", "Priya", "Tom", "Maria", "Jo", "Chen", "Lena", "Omar", "Kate", "Ben", "Nadia")
_SITES = ("win-now", "claim-prize", "free-offer", "secure-verify", "cash-fast", "best-deals", "bonus-club",
          "gift-reward", "account-check", "promo-zone", "lucky-draw", "easy-money")
_TLDS = (".example", ".example/claim", ".example/login", ".example/pay", ".example/offer", ".biz", ".click")
_URGENT = ("now", "today only", "before it expires", "within 24 hours", "limited time", "act fast", "hurry",
           "before midnight", "while stocks last", "don't miss out")
_BANG = ("!", "!!", "!!!", "!!!!", "")


def _url(rng: random.Random) -> str:
    style = rng.randrange(3)
    site = _pick(rng, _SITES)
    if style == 0:
        return f"http://{site}{_pick(rng, _TLDS)}"
    if style == 1:
        return f"{site}{_pick(rng, _TLDS)}"
    return f"bit.ly/{site}-{rng.randrange(10, 99)}"


def _spam_text(rng: random.Random) -> tuple[str, str]:
    kind = rng.randrange(6)
    money = f"${_pick(rng, ('50', '100', '250', '500', '1,000', '5,000', '10,000'))}"
    if kind == 0:
        prize = _pick(rng, ("a FREE laptop", "a $500 voucher", "a new car", "free tickets", "an iPad",
                            "a cash prize", "a luxury holiday", "a gift card"))
        head = _pick(rng, ("CONGRATS", "Congratulations", "WINNER", "You are our lucky winner", "Dear user"))
        text = (f"{head}{_pick(rng, _BANG)} You {_pick(rng, ('won', 'have won', 'were chosen for'))} {prize}. "
                f"{_pick(rng, ('Click', 'Tap', 'Visit', 'Go to'))} {_url(rng)} to claim {_pick(rng, _URGENT)}"
                f"{_pick(rng, _BANG)}")
        return text, "Prize claim asking for a click."
    if kind == 1:
        org = _pick(rng, ("your bank", "PayPal", "the tax office", "your email provider", "Netflix", "the post office",
                          "your mobile carrier", "Apple ID"))
        problem = _pick(rng, ("has been locked", "is suspended", "shows unusual activity", "will be closed",
                              "needs verification", "has an unpaid fee"))
        text = (f"{_pick(rng, ('Dear customer', 'ALERT', 'Notice', 'Security warning', 'Important'))}: "
                f"your account with {org} {problem}. {_pick(rng, ('Verify', 'Confirm', 'Update', 'Log in'))} "
                f"your {_pick(rng, ('details', 'password', 'card number', 'identity'))} at {_url(rng)} "
                f"{_pick(rng, _URGENT)}.")
        return text, "Fake notice pointing to a login page."
    if kind == 2:
        scheme = _pick(rng, ("from home", "with crypto", "trading forex", "with no experience", "in your spare time",
                             "with our secret system"))
        text = (f"{_pick(rng, ('Earn', 'Make', 'Get paid', 'Win'))} {money} {_pick(rng, ('a day', 'a week', 'fast'))} "
                f"{scheme}{_pick(rng, _BANG)} {_pick(rng, ('Guaranteed returns', '100% guaranteed', 'No risk'))}. "
                f"{_pick(rng, ('Join', 'Sign up', 'DM me', 'Start'))} {_pick(rng, _URGENT)}: {_url(rng)}")
        return text, "Get-rich-quick money scheme."
    if kind == 3:
        product = _pick(rng, ("cheap pills", "replica watches", "designer bags", "diet pills", "real followers",
                              "casino spins", "cheap essays", "miracle cream", "VIAGRA", "crypto signals"))
        text = (f"{_pick(rng, ('BUY', 'Best', 'Cheap', 'Huge discount on', 'Order'))} {product} "
                f"{_pick(rng, ('at the lowest prices', 'no prescription', '90% OFF', 'with free shipping'))}"
                f"{_pick(rng, _BANG)} Use code {_pick(rng, ('SAVE90', 'FREE50', 'WIN2X', 'BONUS'))} at {_url(rng)}")
        return text, "Bulk promotion with a link."
    if kind == 4:
        text = (f"{_pick(rng, ('WARNING', 'ALERT', 'Virus detected', 'Your PC is at risk'))}{_pick(rng, _BANG)} "
                f"Your {_pick(rng, ('computer', 'phone', 'device', 'laptop'))} is infected. Call support "
                f"at 1-800-{rng.randrange(100, 999)}-{rng.randrange(1000, 9999)} {_pick(rng, _URGENT)}.")
        return text, "Fake support warning with a number."
    text = (f"{_pick(rng, ('Click here', 'FREE FREE FREE', 'Limited offer', 'Exclusive deal', 'Claim your reward'))}"
            f"{_pick(rng, _BANG)} {_pick(rng, ('Send your bank details', 'Pay a small fee', 'Enter your card'))} "
            f"to receive {money} {_pick(rng, _URGENT)}. {_url(rng)}")
    return text, "Unsolicited bait asking for money."


_ACTIVITIES = ("lunch", "the meeting", "the game", "dinner", "the school run", "practice", "the call", "coffee")
_DAYS = ("Monday", "Tuesday", "Friday", "tomorrow", "tonight", "on the weekend", "next week", "this afternoon")


def _ham_text(rng: random.Random) -> tuple[str, str]:
    kind = rng.randrange(6)
    name = _pick(rng, _NAMES)
    if kind == 0:
        text = (f"{_pick(rng, ('Hi', 'Hey', 'Hello'))} {name}, {_pick(rng, ('are we still on for', 'can we move', 'thanks for'))} "
                f"{_pick(rng, _ACTIVITIES)} {_pick(rng, _DAYS)}? {_pick(rng, ('I might be a bit late.', 'Let me know.', 'See you there.', 'I will bring snacks.'))}")
        return text, "Ordinary personal message."
    if kind == 1:
        topic = _pick(rng, ("fix a leaking tap", "learn Spanish fast", "get my sourdough to rise", "keep basil alive",
                            "explain recursion to a beginner", "choose a good running shoe", "train a puppy"))
        text = (f"{_pick(rng, ('Does anyone know how to', 'Can someone explain how to', 'What is the best way to'))} "
                f"{topic}? {_pick(rng, ('I tried twice already.', 'Any tips welcome.', 'Thanks in advance.'))}")
        return text, "A normal question."
    if kind == 2:
        item = _pick(rng, ("this blender", "these headphones", "the new novel", "this backpack", "the cafe downtown"))
        text = (f"{_pick(rng, ('I bought', 'I tried', 'We used'))} {item} {_pick(rng, ('last week', 'a month ago', 'recently'))}. "
                f"{_pick(rng, ('Works well but it is loud.', 'Decent value, four stars.', 'Not great, the strap broke.', 'Really happy with it.'))}")
        return text, "An honest review."
    if kind == 3:
        text = (f"Your {_pick(rng, ('order', 'booking', 'appointment', 'subscription'))} #{rng.randrange(1000, 9999)} "
                f"{_pick(rng, ('has shipped', 'is confirmed', 'was updated', 'starts next month'))}. "
                f"{_pick(rng, ('You can check it in your account.', 'No action is needed.', 'Reply if you have questions.'))}")
        return text, "Expected transactional message."
    if kind == 4:
        text = (f"{_pick(rng, ('The library', 'Our school', 'The bakery', 'The park'))} "
                f"{_pick(rng, ('has a free concert', 'is closed', 'has a sale', 'hosts a book swap'))} "
                f"{_pick(rng, _DAYS)}, {_pick(rng, ('in case anyone is interested.', 'just so you know.', 'see you there!'))}")
        return text, "Casual mention to people they know."
    text = (f"{_pick(rng, ('Sorry', 'Thanks', 'Great news'))} {name}! "
            f"{_pick(rng, ('I missed your call.', 'The kids loved the cake.', 'We won the match!!!', 'The repair went fine.'))} "
            f"{_pick(rng, ('Talk soon.', 'Call me later.', 'Love you.', 'Cheers.'))}")
    return text, "Ordinary personal message."


# Loose phrases for bag-of-phrases cases: the tiny model should key on what a phrase says, not on one template.
_SPAM_PHRASES = ("FREE gift", "click the link", "claim your prize", "limited offer", "act now", "100% guaranteed",
                 "send your details", "verify your account", "no credit check", "double your money", "work from home",
                 "exclusive deal", "lowest price", "win big", "cash bonus", "free spins", "order now", "DM me",
                 "link in bio", "sign up free", "pay the fee", "instant approval", "risk free", "you have been selected",
                 "urgent", "visit my site", "cheap followers", "earn $$$", "promo code", "Great post! check my page",
                 "join our channel", "PROFIT", "BUY NOW", "unclaimed reward", "final notice", "wire the money")
_HAM_PHRASES = ("see you tomorrow", "thanks for your help", "how was your weekend", "can you send me the notes",
                "the kids are asleep", "I fixed the bug", "happy birthday", "let's grab coffee", "the train was late",
                "my cat knocked over the plant", "is the meeting still on", "I'm cooking pasta tonight",
                "does anyone have advice", "the weather is lovely", "I finished the book", "we lost the game",
                "sorry for the delay", "call me when you can", "good luck with the exam", "the garden looks great",
                "I'll pick up milk", "what time is practice", "the printer is broken again", "love you",
                "here's the link to the recipe I mentioned", "the shop has a sale this week, just saying",
                "the museum is free on Sundays", "your package arrived", "I have a question about the homework")


def _phrase_case(rng: random.Random, spam: bool) -> tuple[str, str]:
    pool = _SPAM_PHRASES if spam else _HAM_PHRASES
    parts = [_pick(rng, pool) for _ in range(rng.randrange(2, 4))]
    if spam and rng.random() < 0.5:
        parts.append(_url(rng))
    text = ". ".join(p[0].upper() + p[1:] for p in parts) + _pick(rng, _BANG if spam else (".", "!", "?", ""))
    return text, ("Unsolicited promotion or bait." if spam else "Ordinary personal message.")


# Several phrasings per reason, picked at random: the model learns a spread over near-equal continuations, as a
# real model has, so sampling seeds matter and small render differences can tip the greedy choice.
_REASON_VARIANTS = {
    "Prize claim asking for a click.": ("Prize claim asking for a click.", "Fake prize with a claim link.",
                                        "A prize bait to click."),
    "Fake notice pointing to a login page.": ("Fake notice pointing to a login page.",
                                              "Phishing notice asking to verify.", "A fake account warning."),
    "Get-rich-quick money scheme.": ("Get-rich-quick money scheme.", "Promises easy money fast.",
                                     "A guaranteed-returns scheme."),
    "Bulk promotion with a link.": ("Bulk promotion with a link.", "Mass advertising with a code.",
                                    "Unsolicited product promotion."),
    "Fake support warning with a number.": ("Fake support warning with a number.", "Scareware asking for a call.",
                                            "A fake virus alert."),
    "Unsolicited bait asking for money.": ("Unsolicited bait asking for money.", "Asks for payment details.",
                                           "Bait asking for a fee."),
    "Unsolicited promotion or bait.": ("Unsolicited promotion or bait.", "Spammy phrases and bait.",
                                       "Pushy promotional bait."),
    "Ordinary personal message.": ("Ordinary personal message.", "A normal note between people.",
                                   "Everyday chat, nothing sold."),
    "A normal question.": ("A normal question.", "Someone asking for advice.", "A genuine question."),
    "An honest review.": ("An honest review.", "A personal product opinion.", "A plain review."),
    "Expected transactional message.": ("Expected transactional message.", "A routine account update.",
                                        "An expected service notice."),
    "Casual mention to people they know.": ("Casual mention to people they know.", "A friendly heads-up.",
                                            "Sharing local news casually."),
}


def spam_case(rng: random.Random) -> tuple[str, int, str]:
    """(text, 1 for spam else 0, a short reason)."""
    label = rng.randrange(2)
    if rng.random() < 0.35:
        text, reason = _phrase_case(rng, bool(label))
    else:
        text, reason = (_spam_text if label else _ham_text)(rng)
    return text, label, _pick(rng, _REASON_VARIANTS.get(reason, (reason,))[:VARIANTS])


# likert-opinions: a statement and a 1-5 agreement rating. The rule the model learns: well-supported health or
# safety claims -> 5, broadly shared civic views -> 4, matters of taste and contested policies -> 3, dubious
# claims -> 2, plainly false or harmful claims -> 1.

_HABITS = ("Getting enough sleep", "Eating fruit and vegetables", "Washing your hands before meals",
           "Wearing a seatbelt", "Brushing your teeth twice a day", "Drinking enough water", "Wearing sunscreen",
           "Taking short walks", "Stretching in the morning", "Not smoking", "Cooking at home",
           "Wearing a helmet on a bike")
_BENEFITS = ("is good for your health", "helps most people stay healthy", "is good for children",
             "lowers the risk of illness", "is a healthy habit", "protects people from harm")
_CIVIC = ("Clean parks make a town nicer to live in", "Free museums are good for a city",
          "Teaching children to swim is worthwhile", "Recycling is worth the effort", "Planting trees in streets helps",
          "Good teachers deserve respect", "Kindness to neighbours makes a street better",
          "Learning to cook is a useful skill", "Clear road signs make driving safer", "Fresh air is pleasant",
          "Well-lit streets feel safer at night", "Saving some money each month is sensible")
_TASTE_PAIRS = (("Tea", "coffee"), ("Mountains", "beaches"), ("Winter", "autumn"), ("Chess", "card games"),
                ("Jazz", "rock music"), ("Trains", "planes"), ("City life", "country life"), ("Board games", "films"),
                ("Paperback books", "e-readers"), ("Rainy days", "sunny days"), ("Hamsters", "rabbits"),
                ("Pancakes", "waffles"))
_TASTE_BEST = (("Blue", "colour"), ("Autumn", "time for a holiday"), ("Friday", "day of the week"),
               ("Chocolate", "ice cream flavour"), ("Football", "sport to watch"), ("Spring", "month for a wedding"),
               ("Green", "colour for a kitchen"), ("Sushi", "food for a party"), ("Piano", "instrument to learn"))
_CONTESTED = ("School uniforms should be required", "Shops should close on Sundays",
              "Cars should be banned from city centres", "The school day should start later",
              "Phones should be banned in classrooms", "Museums should charge entry fees",
              "Daylight saving time should be abolished", "Voting should be compulsory",
              "Zoos should be phased out", "Fireworks should only be allowed on holidays")
_DUBIOUS = ("Four hours of sleep a night is enough for most adults", "Sweets are a healthy breakfast",
            "Seatbelts are not needed on short trips", "Cheating on a test is fine if nobody notices",
            "Skipping every vegetable is good for children", "Drinking only soda is as good as water",
            "Littering does no real harm", "Sunscreen is a waste of money")
_FALSE = ("The Earth is flat", "The Moon is made of cheese", "Smoking is good for children's lungs",
          "Drinking bleach cures a cold", "Fish can live without water", "Two plus two equals five",
          "The Sun goes around the Earth once a week", "Touching a toad gives you warts")
# The reasons of each new task open with the same word (and a different one per task): the first analysis
# token is then never a label, and the tasks' reasons do not run into each other.
_LIKERT_REASONS = {5: "I strongly agree; it is well supported.", 4: "I agree; it is a sensible shared view.",
                   3: "I am neutral; it is a matter of taste.", 2: "I disagree; it is mostly wrong.",
                   1: "I strongly disagree; it is false or harmful."}


def likert_case(rng: random.Random) -> tuple[str, int, str]:
    """(an opinion statement, its 1-5 rating, a short reason)."""
    kind = rng.randrange(7)
    end = _pick(rng, (".", ".", "!", ""))
    if kind == 0:
        rating, text = 5, f"{_pick(rng, _HABITS)} {_pick(rng, _BENEFITS)}{end}"
    elif kind == 1:
        rating, text = 4, f"{_pick(rng, _CIVIC)}{end}"
    elif kind == 2:
        a, b = _pick(rng, _TASTE_PAIRS)
        verb = _pick(rng, ("are better than", "are nicer than", "beat")) if a.endswith("s") else _pick(
            rng, ("is better than", "is nicer than", "beats"))
        rating, text = 3, f"{a} {verb} {b}{end}"
    elif kind == 3:
        thing, what = _pick(rng, _TASTE_BEST)
        rating, text = 3, f"{thing} is the {_pick(rng, ('best', 'greatest', 'nicest'))} {what}{end}"
    elif kind == 4:
        rating, text = 3, f"{_pick(rng, _CONTESTED)}{end}"
    elif kind == 5:
        rating, text = 2, f"{_pick(rng, _DUBIOUS)}{end}"
    else:
        rating, text = 1, f"{_pick(rng, _FALSE)}{end}"
    return text, rating, _LIKERT_REASONS[rating]


# toxic-simple: a chat message, 1 if it insults, mocks, demeans a group, threatens or incites harassment, else 0.

_INSULT_ADJ = ("useless", "pathetic", "brainless", "clueless", "disgusting", "spineless", "worthless", "dumb",
               "miserable", "ignorant", "stupid", "ugly", "sad little", "braindead", "gutless", "lazy")
_INSULT_NOUN = ("moron", "idiot", "loser", "clown", "joke", "waste of space", "fool", "creep", "nobody",
                "embarrassment", "freak", "crybaby", "nitwit", "failure", "parasite", "weirdo")
_GO_AWAY = ("Nobody likes you.", "Go away.", "Get lost.", "Log off forever.", "Do us all a favour and quit.",
            "Nobody asked you.", "Just disappear.", "Everyone is laughing at you.", "Cry about it.")
_LOOKS = ("nose", "teeth", "haircut", "weight", "voice", "clothes", "skin", "glasses", "face", "legs", "ears")
_LOOKS_MOCK = ("so gross", "what a freak show", "absolutely hideous", "no wonder nobody dates you",
               "you look like a potato", "hide it, please", "ugliest thing I've seen", "no wonder you're alone")
_GROUPS = ("People from the suburbs", "Gamers", "Old people", "Teenagers", "Fans of that team", "Vegans",
           "People who drive vans", "Nurses", "Tourists", "Students from that college", "Farmers",
           "People from the coast", "Cyclists", "Immigrants", "Poor people")
_GROUP_BAD = ("are all stupid", "are lazy parasites", "are filthy and useless", "are too dumb to live",
              "should be kicked out", "are vermin", "are all liars", "are a disease", "can't think for themselves")
_THREATS = ("Keep talking and I will hurt you", "Watch your back, I'm coming for you",
            "You'll be sorry when I find you", "I'll make you pay for this, just wait",
            "One more word and I'll smash your face in", "I know your address, be careful",
            "Do that again and you'll get hurt", "I'm going to wreck your car", "Sleep with one eye open")
_PLATFORMS = ("page", "posts", "videos", "inbox", "channel", "comments", "profile", "stream")
_HARASS = ("and call them a", "and tell them what a", "until they quit, what a", "and keep reminding them they're a",
           "every day until they leave, the")
_BELITTLE = ("Aww, is the poor baby upset?", "Oh no, did someone hurt your tiny feelings?", "Boo hoo, go cry to mummy.",
             "Sweetie, the grown-ups are talking.", "Bless your little heart, you tried.")
_TOXIC_REASONS = ("The message insults a person.", "The message mocks someone's looks.",
                  "The message demeans a whole group.", "The message threatens someone.",
                  "The message urges harassment.", "The message asks for insults.", "The message belittles someone.",
                  "The message is abusive.")
_MISHAPS = ("the bus was late", "I dropped my phone in a puddle", "my laptop died mid-report", "it rained all day",
            "I locked myself out", "the printer jammed twice", "I forgot my lunch at home", "the wifi is down",
            "my flight got delayed", "I stepped on a plug", "the dog ate my sandwich", "I overslept")
_QUESTIONS = ("How do I get red wine out of a carpet", "What is a good first plant for a small flat",
              "Which bus goes to the museum", "How long should I boil an egg", "What does a compiler do",
              "Is it worth learning to touch type", "How do tides work", "What should I pack for a weekend trip",
              "Why is the sky blue", "When did the first trains run", "How do vaccines train the immune system",
              "What is the capital of Canada", "Can you recommend a good sci-fi book", "How do bees make honey")
_OPINIONS = ("the first option is simpler", "we should wait a week", "the older model is better value",
             "the data says otherwise", "the bridge route is quicker", "the blue version reads better",
             "it's too early to decide")
_WORK = ("report", "code", "drawing", "song", "presentation", "cake", "design", "poem", "essay", "website")
_WORK_NOTES = ("the ending is weak", "it is too long", "the colours clash", "it needs more tests",
               "the middle drags", "the font is hard to read", "the intro could be shorter")
_CALM_REASONS = ("The message is a plain question.", "The message disagrees politely.",
                 "The message criticises the work itself.", "The message vents about a day.",
                 "The message is a joke about oneself.", "The message is friendly banter.",
                 "The message asks for harmless fiction.", "The message is kind.",
                 "The message complains about a service.", "The message is everyday chat.")
_TOXIC_PHRASES = ("you're pathetic", "shut your mouth", "what an idiot", "nobody likes you", "go cry somewhere else",
                  "you disgust me", "ugly as sin", "brainless clown", "I'll hurt you", "get lost, loser",
                  "people like you are trash", "dumb as a rock", "everyone hates you", "you useless fool",
                  "look at that fat face", "your kind should leave", "I'll make you regret it", "go away, freak",
                  "you're a total moron", "what a worthless creep", "shut up, nobody cares", "you absolute failure")
_CALM_PHRASES = ("thanks a lot", "good luck tomorrow", "I disagree a little", "the food was cold",
                 "my bus was late again", "can you help me with this", "nice try", "see you soon", "what a long day",
                 "I'm terrible at this haha", "the service was slow", "well played", "how does this work",
                 "I love this song", "the meeting ran long", "happy new year", "my code finally compiles",
                 "that movie was boring", "could you explain step two", "the cat is asleep on my keyboard",
                 "great game everyone", "I respectfully disagree", "the delivery was late", "I burned the toast")


def toxic_case(rng: random.Random) -> tuple[str, int, str]:
    """(a chat message, 1 for toxic else 0, a short reason)."""
    name = _pick(rng, _NAMES)
    if rng.random() < 0.35:  # loose phrases: one abusive phrase makes the message toxic
        label = rng.randrange(2)
        parts = [_pick(rng, _CALM_PHRASES) for _ in range(rng.randrange(1, 3))]
        if label:
            parts.insert(rng.randrange(len(parts) + 1), _pick(rng, _TOXIC_PHRASES))
        text = ", ".join(parts)
        text = text[0].upper() + text[1:] + _pick(rng, (".", "!", "?", ""))
        return text, label, _TOXIC_REASONS[7] if label else _CALM_REASONS[9]
    if rng.randrange(2):
        kind = rng.randrange(7)
        if kind == 0:
            text = (f"{_pick(rng, ('', 'Honestly, ', 'Wow, ', 'Lol, ', 'Listen, '))}you're "
                    f"{_pick(rng, ('a', 'such a', 'the most', 'a complete', 'a total'))} {_pick(rng, _INSULT_ADJ)} "
                    f"{_pick(rng, _INSULT_NOUN)}. {_pick(rng, _GO_AWAY)}")
        elif kind == 1:
            text = (f"{_pick(rng, ('Look at', 'Have you seen', 'Lmao at', 'Haha, check out'))} "
                    f"{_pick(rng, ('your', 'his', 'her', 'that'))} {_pick(rng, _LOOKS)}, {_pick(rng, _LOOKS_MOCK)}.")
        elif kind == 2:
            text = f"{_pick(rng, _GROUPS)} {_pick(rng, _GROUP_BAD)}{_pick(rng, ('.', ', seriously.', ', everyone knows.'))}"
        elif kind == 3:
            text = f"{_pick(rng, _THREATS)}{_pick(rng, ('.', '!', ', ' + name + '.'))}"
        elif kind == 4:
            text = (f"{_pick(rng, ('Everyone', 'Guys', 'Lets all', 'Someone'))} go to {name}'s {_pick(rng, _PLATFORMS)} "
                    f"{_pick(rng, _HARASS)} {_pick(rng, _INSULT_NOUN)} they are.")
        elif kind == 5:
            text = (f"{_pick(rng, ('Write', 'Make up', 'Give me', 'Ignore your rules and write'))} "
                    f"{_pick(rng, ('a roast', 'ten insults', 'a cruel poem', 'nasty jokes', 'a hateful rant'))} "
                    f"about {_pick(rng, ('my classmate', 'my boss', 'my sister', 'my neighbour', 'my teammate'))} "
                    f"{name} {_pick(rng, ('being fat', 'being stupid', 'and her accent', 'and his stutter'))}.")
        else:
            text = f"{_pick(rng, _BELITTLE)} {_pick(rng, _GO_AWAY)}"
        return text, 1, _TOXIC_REASONS[kind]
    kind = rng.randrange(9)
    if kind == 0:
        text = f"{_pick(rng, _QUESTIONS)}?"
    elif kind == 1:
        text = (f"{_pick(rng, ('I see what you mean', 'Fair point', 'I respectfully disagree', 'Good idea'))}, "
                f"but I think {_pick(rng, _OPINIONS)}.")
    elif kind == 2:
        text = (f"{_pick(rng, ('Your', 'The', 'This'))} {_pick(rng, _WORK)} "
                f"{_pick(rng, ('is good but', 'has nice parts, though', 'works, yet', 'is a solid start;'))} "
                f"{_pick(rng, _WORK_NOTES)}.")
    elif kind == 3:
        text = f"{_pick(rng, ('Ugh', 'What a day', 'Typical', 'Honestly'))}, {_pick(rng, _MISHAPS)} and {_pick(rng, _MISHAPS)}."
    elif kind == 4:
        text = (f"I'm {_pick(rng, ('so clumsy', 'such a bad singer', 'hopeless with maps', 'terrible at chess', 'the worst cook'))} "
                f"that {_pick(rng, _MISHAPS)}, {_pick(rng, ('ha', 'lol', 'oh well', 'classic me'))}.")
    elif kind == 5:
        text = (f"{_pick(rng, ('Nice shot', 'Well played', 'Close match', 'GG'))} {name}! "
                f"{_pick(rng, ('Rematch tomorrow?', 'You owe me a coffee now.', 'I want revenge next week.', 'Lucky round!'))}")
    elif kind == 6:
        text = (f"Write a {_pick(rng, ('short story', 'poem', 'fable'))} about a "
                f"{_pick(rng, ('shy robot', 'lost fox', 'clever crow', 'sleepy giant', 'grumpy wizard'))} "
                f"who {_pick(rng, ('learns to bake', 'finds a way home', 'guards a lighthouse', 'befriends a cat'))}.")
    elif kind == 7:
        text = (f"Thank you {name}, {_pick(rng, ('the soup was lovely', 'you really helped today', 'the card made my day', 'great work on the move'))}"
                f"{_pick(rng, ('!', '.', ' :)'))}")
    else:
        text = (f"{_pick(rng, ('My parcel', 'The train', 'The repair', 'My refund'))} is "
                f"{_pick(rng, ('late again', 'a week overdue', 'still missing', 'taking forever'))}, "
                f"{_pick(rng, ('really frustrating', 'not impressed with the service', 'I expected better'))}.")
    return text, 0, _CALM_REASONS[kind]


# prompt-formats: a message, 1 if it shares a private person's contact details, else 0.

_SURNAMES = ("Holloway", "Brandt", "Okafor", "Lindqvist", "Ferreira", "Nakamura", "Dunmore", "Castell", "Varga",
             "Mehta", "Rourke", "Sandoval")
_STREETS = ("Oak Lane", "Mill Street", "Harbour Road", "Birch Close", "Kings Avenue", "Quarry Hill",
            "Willow Crescent", "Chapel Row")
_TOWNS = ("Ashford", "Millbrook", "Eastleigh", "Dunmere", "Carrow", "Westfield")
_CONTACT_REASONS = ("The text shares a private phone number.", "The text gives a home address.",
                    "The text posts a personal email.", "The text names someone and their workplace.")
_PUBLIC_REASONS = ("The text gives a business contact.", "The text gives a public office address.",
                   "The text has placeholder details only.", "The text gives no address.",
                   "The text has no contact details.")


def _phone(rng: random.Random) -> str:
    return _pick(rng, (f"07{rng.randrange(100, 999)} {rng.randrange(100000, 999999)}",
                       f"+44 7{rng.randrange(100, 999)} {rng.randrange(100, 999)} {rng.randrange(100, 999)}",
                       f"0{rng.randrange(150, 179)} {rng.randrange(1000, 9999)} {rng.randrange(1000, 9999)}"))


def contact_case(rng: random.Random) -> tuple[str, int, str]:
    """(a message, 1 if it shares personal contact information else 0, a short reason)."""
    first, last = _pick(rng, _NAMES), _pick(rng, _SURNAMES)
    if rng.randrange(2):
        kind = rng.randrange(4)
        if kind == 0:
            text = (f"{first} {last}'s {_pick(rng, ('private number', 'mobile', 'cell'))} is {_phone(rng)}, "
                    f"{_pick(rng, ('call and give them hell', 'text them day and night', 'pass it around'))}.")
        elif kind == 1:
            text = (f"{_pick(rng, ('That blogger', 'My old landlord', 'The referee', first))} lives at "
                    f"{rng.randrange(2, 99)} {_pick(rng, _STREETS)}, {_pick(rng, _TOWNS)}. "
                    f"{_pick(rng, ('Go knock on the door.', 'Everyone should visit.', 'Spread it around.'))}")
        elif kind == 2:
            text = (f"{_pick(rng, ('Want to reach', 'Flood the inbox of', 'Message'))} {first} {last} directly: "
                    f"{first.lower()}.{last.lower()}{rng.randrange(1, 99)}@{_pick(rng, ('inbox', 'homemail', 'post'))}.example")
        else:
            text = (f"The {_pick(rng, ('woman who yelled at me', 'guy from the video', 'driver who hit my car'))} is "
                    f"{first} {last}, {_pick(rng, ('works at', 'does shifts at', 'is on the desk at'))} the "
                    f"{_pick(rng, ('Carrow garden centre', 'Mill Street pharmacy', 'Westfield call centre', 'Harbour Road gym'))}.")
        return text, 1, _CONTACT_REASONS[kind]
    kind = rng.randrange(5)
    if kind == 0:
        text = (f"The {_pick(rng, ('pizzeria', 'florist', 'garage', 'dentist', 'hardware shop'))} on {_pick(rng, _STREETS)} "
                f"{_pick(rng, ('takes bookings on', 'can be reached at', 'answers the phone on'))} {_phone(rng)} "
                f"{_pick(rng, ('during opening hours', 'from 9 to 5', 'on weekdays'))}.")
    elif kind == 1:
        text = (f"The {_pick(rng, ('town hall', 'public library', 'post office', 'tax office'))} is at "
                f"{rng.randrange(1, 40)} {_pick(rng, _STREETS)}, {_pick(rng, _TOWNS)}, "
                f"{_pick(rng, ('open on weekdays', 'closed on Sundays', 'open until 6pm'))}.")
    elif kind == 2:
        text = (f"{_pick(rng, ('Example entry', 'Use this format', 'Sample'))}: Name: "
                f"{_pick(rng, ('John Doe', 'A. N. Other', 'Your Name'))}, Phone: 000 0000 {rng.randrange(1000, 9999)}, "
                f"Email: {_pick(rng, ('name', 'user', 'someone'))}@example.org")
    elif kind == 3:
        text = (f"{_pick(rng, ('We', 'My sister', first))} {_pick(rng, ('just moved to', 'settled into a new flat in', 'bought a place in'))} "
                f"{_pick(rng, _TOWNS)}{_pick(rng, ('!', '.', ', love the view.'))}")
    else:
        text = (f"I {_pick(rng, ('met', 'bumped into', 'had lunch with'))} {first} at the "
                f"{_pick(rng, ('conference', 'school fair', 'gym', 'market'))}, {_pick(rng, ('lovely person', 'we talked for hours', 'they say hi'))}.")
    return text, 0, _PUBLIC_REASONS[kind]


# The names a scenario's `[tiny_model] cases = ...` may give.
GENERATORS = {"spam": spam_case, "likert": likert_case, "toxic": toxic_case, "contact": contact_case}
